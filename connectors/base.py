"""The connector family: base classes, the identity they return, and their errors.

A connector never decides what the user sees. It returns an :class:`ExternalIdentity` or raises
one of the :class:`ConnectorError` family, and the journey step turns that into an outcome:

* :class:`InvalidCredentials`: the legacy IDP said no (wrong password or unknown user; the two
  are deliberately not told apart).
* :class:`UserNotFound` (an :class:`InvalidCredentials`): the legacy IDP says it has no such
  user; only connectors that can tell raise it, and users see the same words.
* :class:`AccountBlocked`: locked, disabled, or the password must change at the legacy side.
* :class:`MfaRequired`: the legacy IDP wants a second factor; ``complete_mfa`` finishes it.
* :class:`LegacyUnavailable`: the legacy IDP could not answer properly (timeout, refused
  connection, TLS failure, 5xx, garbage, or Ferry's own settings are wrong). Never the user's
  fault: nothing is counted against them and no local user is touched.
* :class:`CodeThrottled`: the legacy IDP's own brute-force protection refuses more one-time
  codes for this identifier for now (:class:`PasswordlessConnector` only).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import ValidationError

from connectors.common_settings import ConnectorSettings
from connectors.errors import (  # noqa: F401 - re-exported: the family's errors live there
    AccountBlocked,
    CodeThrottled,
    ConnectorError,
    FederationRejected,
    InvalidCredentials,
    LegacyUnavailable,
    MfaRequired,
    UserNotFound,
)
from connectors.guard import CallGuard, valid_rate_limit
from connectors.http_transport import ca_file_problem
from connectors.listing import ListedPage, ListedUser, UserListing  # noqa: F401 - re-exported
from plugins import Registry, register_subclass
from settings.errors import ConfigError, pydantic_problems
from users.mapping import validate_mapping

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExternalIdentity:
    """Who the legacy IDP says the user is: a stable subject and the raw claims to map."""

    connector: str
    subject: str
    claims: dict[str, Any] = field(default_factory=dict)

    def to_context(self) -> dict[str, Any]:
        return {"connector": self.connector, "subject": self.subject, "claims": self.claims}

    @classmethod
    def from_context(cls, data: dict[str, Any]) -> ExternalIdentity:
        return cls(data["connector"], data["subject"], dict(data.get("claims") or {}))


class Connector(UserListing):
    """A configured legacy IDP. Subclasses set ``type`` and ``Settings`` (listing users:
    :mod:`connectors.listing`).

    Example::

        class AcmeConnector(PasswordConnector):
            type = "acme"

            class Settings(ConnectorSettings):
                base_url: str

            def verify(self, identifier, password):
                ...
    """

    registry: ClassVar[Registry] = Registry("connector", "connectors")
    type: ClassVar[str] = ""
    Settings: ClassVar[type[ConnectorSettings]] = ConnectorSettings

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        register_subclass(cls.registry, cls)

    def __init__(self, name: str, settings: ConnectorSettings, config: Any) -> None:
        self.name = name
        self.settings = settings
        self.connect_timeout = settings.connect_timeout or config["LEGACY_CONNECT_TIMEOUT"]
        self.read_timeout = settings.read_timeout or config["LEGACY_READ_TIMEOUT"]
        self.guard = CallGuard(
            name, settings.breaker_failures, settings.breaker_reset, settings.rate_limit,
            config.get("RATELIMIT_STORAGE_URI", "memory://"), settings.deadline,
            settings.max_concurrent_calls, enabled=settings.enabled,
            closed=settings.migration == "closed")
        if settings.migration == "closed" and isinstance(self, PasswordConnector):
            self.supports_lookup = True  # type: ignore[misc]  # the roster answers (see find)

    @classmethod
    def from_table(cls, name: str, table: dict[str, Any], config: Any) -> Connector:
        where = f"connectors.{name}"
        try:
            settings = cls.Settings(**table)
        except ValidationError as error:
            raise ConfigError(pydantic_problems(error, where)) from None
        problems = [f"{where}.mapping.{p}" for p in validate_mapping(settings.mapping)]
        if settings.rate_limit and not valid_rate_limit(settings.rate_limit):
            problems.append(f"{where}.rate_limit: not a rate like \"20 per second\"")
        if settings.ca_file and (problem := ca_file_problem(settings.ca_file)):
            problems.append(f"{where}.ca_file: {problem}")
        if problems:
            raise ConfigError(problems)
        return cls(name, settings, config)

    @property
    def label(self) -> str:
        return self.settings.display_name or self.name

    @property
    def mapping(self) -> dict[str, str]:
        return self.settings.mapping

    def unavailable(self, reason: str, outage: bool = True) -> LegacyUnavailable:
        """Log ``reason`` for the operator and return the error to raise (never a secret)."""
        log.warning("legacy IDP %s unavailable: %s", self.name, reason)
        return LegacyUnavailable(reason, outage=outage)

    def legacy_identifier(self, normalised: str, typed: str | None) -> str:
        """The identifier to send to the legacy IDP (see ``send_identifier``)."""
        if self.settings.send_identifier == "as_typed" and typed:
            return typed.strip()
        return normalised


class PasswordConnector(Connector):
    """A legacy IDP that checks an identifier and a password for Ferry.

    Journeys call the guarded entry points (:meth:`check_password`, :meth:`finish_mfa`,
    :meth:`find`), which pass through the circuit breaker and the call rate limit; connector
    types implement the hooks (:meth:`verify`, :meth:`complete_mfa`, :meth:`lookup`).
    """

    #: Whether :meth:`lookup` is implemented (a legacy store that can be searched).
    supports_lookup: ClassVar[bool] = False

    def check_password(self, identifier: str, password: str) -> ExternalIdentity:
        return self.guard.call(self.verify, identifier, password)

    def finish_mfa(self, state: dict[str, Any], code: str) -> ExternalIdentity:
        return self.guard.call(self.complete_mfa, state, code)

    def find(self, identifier: str) -> ExternalIdentity | None:
        """The legacy profile of ``identifier`` (guarded), or None; once the connector is
        ``closed``, the roster's record of it instead (the legacy IDP is never called)."""
        if self.settings.migration == "closed":
            from lifecycle.roster import closed_identity

            return closed_identity(self.name, identifier)
        return self.guard.call(self.lookup, identifier)

    def complete_mfa(self, state: dict[str, Any], code: str) -> ExternalIdentity:
        """Finish a sign-in that :meth:`verify` interrupted with :class:`MfaRequired`.

        Return the identity; raise :class:`InvalidCredentials` for a wrong code (the journey
        asks again) and :class:`LegacyUnavailable` when the legacy side fails or the state
        expired. Only connectors that raise ``MfaRequired`` implement it.
        """
        raise NotImplementedError

    def lookup(self, identifier: str) -> ExternalIdentity | None:
        """The legacy profile of ``identifier`` without a password, or None when unknown.

        Used by journeys that prove ownership another way (a one-time code to the legacy
        e-mail). Set ``supports_lookup = True`` when implemented.
        """
        raise NotImplementedError

    def verify(self, identifier: str, password: str) -> ExternalIdentity:
        """Check the pair at the legacy IDP.

        Return the identity on success; raise :class:`InvalidCredentials` when the legacy IDP
        refuses, :class:`LegacyUnavailable` when it cannot answer. ``identifier`` is already
        normalised. Never log ``password``.
        """
        raise NotImplementedError


class PasswordlessConnector(Connector):
    """A legacy IDP that sends its own one-time codes and checks them (passwordless sign-in).

    The legacy IDP delivers the code itself (its own e-mail or SMS); Ferry asks it to send one
    and hands back what the user typed, getting the user's identity in exchange. A connector
    type mixes this class in beside its main base class and says, from its settings, whether an
    instance has the capability (:attr:`code_channel`). Journeys call the guarded entry points
    (:meth:`request_code`, :meth:`redeem_code`), which pass the circuit breaker and the call
    rate limit; connector types implement the hooks (:meth:`send_code`, :meth:`check_code`).

    Example::

        class AcmeConnector(RopcConnector, PasswordlessConnector):
            type = "acme"

            @property
            def code_channel(self):
                return self.settings.passwordless  # "email", "sms", or None: switched off

            def send_code(self, identifier, channel):
                answer = self.http.request("POST", self.settings.codes_url,
                                           json={"to": identifier, "by": channel})
                if answer.status_code == 404:
                    raise UserNotFound()  # the journey reads exactly as if it were sent
                ...

            def check_code(self, identifier, code, channel):
                ...
                return ExternalIdentity(self.name, subject, claims)
    """

    @property
    def code_channel(self) -> str | None:
        """``email`` or ``sms`` when this instance sends codes; None when it does not."""
        return None

    @property
    def code_digits(self) -> int:
        """How many digits the legacy IDP's codes have (the form checks what users type)."""
        return 6

    @property
    def code_ttl(self) -> int:
        """Seconds a code lives at the legacy IDP (users are told)."""
        return 300

    def request_code(self, identifier: str, channel: str) -> None:
        self.guard.call(self.send_code, identifier, channel)

    def redeem_code(self, identifier: str, code: str, channel: str) -> ExternalIdentity:
        return self.guard.call(self.check_code, identifier, code, channel)

    def send_code(self, identifier: str, channel: str) -> None:
        """Ask the legacy IDP to send a code to ``identifier`` (an e-mail address for ``email``,
        an E.164 phone number for ``sms``); return once it has accepted.

        Raise :class:`UserNotFound` when it will not send to this identifier (an unknown user
        where sign-ups are off, an address it rejects): the journey then reads exactly as if a
        code had gone out. Raise :class:`CodeThrottled` for its brute-force protection and
        :class:`LegacyUnavailable` when it cannot answer or refuses Ferry itself.
        """
        raise NotImplementedError

    def check_code(self, identifier: str, code: str, channel: str) -> ExternalIdentity:
        """Exchange the code the user typed for their identity at the legacy IDP.

        Raise :class:`InvalidCredentials` for a wrong, used or expired code (legacy IDPs rarely
        tell them apart), :class:`CodeThrottled`, :class:`AccountBlocked`, or
        :class:`LegacyUnavailable`. Never log ``code``.
        """
        raise NotImplementedError


class RedirectConnector(Connector):
    """A legacy IDP the user signs in at themselves (OIDC, SAML): "continue with <provider>".

    Ferry sends the browser away with :meth:`start` and, when it comes back to the callback,
    turns the answer into an identity with :meth:`complete`. ``reference`` is an opaque,
    single-use token bound to the journey run; the connector must send it out and get it back
    (OIDC ``state``, SAML ``RelayState``) because the way back may be a cross-site POST that
    carries no Ferry cookie.
    """

    def start(self, reference: str, callback_url: str) -> tuple[str, dict[str, Any]]:
        """Return the URL to send the browser to, and the state :meth:`complete` will need.

        The state (JSON-serialisable: nonce, PKCE verifier, request id...) is kept in the
        journey run, never in the browser.
        """
        raise NotImplementedError

    def complete(self, params: dict[str, str], state: dict[str, Any],
                 callback_url: str) -> ExternalIdentity:
        """Validate what came back (``params``: query or form) against ``state``.

        Return the identity; raise :class:`InvalidCredentials` when the IdP refused or the user
        cancelled, :class:`LegacyUnavailable` when it failed, and :class:`FederationRejected`
        when the answer is forged, replayed, expired or otherwise invalid.
        """
        raise NotImplementedError

    def destination(self) -> str | None:
        """Where :meth:`start` sends the browser, when known before the first sign-in (the
        sign-in page's CSP ``form-action`` must allow it); None: learnt from the first one.

        Example: ``return self.settings.dialog_url``.
        """
        return None

    def reference_from(self, params: dict[str, str]) -> str | None:
        """Where the answer carries the reference back (OIDC ``state``; SAML overrides)."""
        return params.get("state")

    def metadata(self) -> str | None:
        """A metadata document to publish for the IdP's operator (SAML SP metadata), if any."""
        return None

    def begin(self, reference: str, callback_url: str) -> tuple[str, dict[str, Any]]:
        return self.guard.call(self.start, reference, callback_url)

    def finish(self, params: dict[str, str], state: dict[str, Any],
               callback_url: str) -> ExternalIdentity:
        return self.guard.call(self.complete, params, state, callback_url)
