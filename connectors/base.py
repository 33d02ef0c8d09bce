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
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.bulkhead import DEFAULT_CONCURRENT_CALLS
from connectors.deadline import DEFAULT_DEADLINE
from connectors.guard import CallGuard, valid_rate_limit
from connectors.http_transport import ca_file_problem
from plugins import Registry, register_subclass
from settings.errors import ConfigError, pydantic_problems
from users.mapping import DEFAULT_MAPPING, validate_mapping

log = logging.getLogger(__name__)


class ConnectorError(Exception):
    """Base of every error a connector raises."""


class InvalidCredentials(ConnectorError):
    """The legacy IDP refused the identifier and secret."""


class UserNotFound(InvalidCredentials):
    """The legacy IDP knows no such user (only raised by connectors that can tell).

    A journey may try the next legacy source on it; users still see the same words as for a
    wrong password, so nothing is enumerated.
    """


class AccountBlocked(ConnectorError):
    """The password may be right, but the legacy account cannot sign in.

    ``reason``: ``locked``, ``disabled``, ``password_expired`` or ``password_change_required``.
    """

    REASONS = ("locked", "disabled", "password_expired", "password_change_required")

    def __init__(self, reason: str) -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown reason {reason!r}")
        super().__init__(reason)
        self.reason = reason


class MfaRequired(ConnectorError):
    """The legacy IDP wants a second factor before it vouches for the user.

    ``state`` is what :meth:`PasswordConnector.complete_mfa` needs to finish (a state token, an
    MFA token, a session...): JSON-serialisable, short-lived, kept in the journey run.
    ``factor`` names what the user must type (``totp``, ``sms``, ``email``).
    """

    def __init__(self, state: dict[str, Any], factor: str = "totp") -> None:
        super().__init__(factor)
        self.state = state
        self.factor = factor


class LegacyUnavailable(ConnectorError):
    """The legacy IDP is unreachable, broken, or misconfigured; ``reason`` is for operators.

    ``outage=False`` marks an answer that means "this user cannot migrate this way" (Entra
    demanding MFA over ROPC, an expired MFA challenge): the user is told to try later, but the
    circuit breaker does not count it, so a few such users cannot shut the door for everyone.
    """

    def __init__(self, reason: str, outage: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.outage = outage


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


class ConnectorSettings(BaseModel):
    """Settings every connector instance accepts; a type adds its own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    display_name: str | None = Field(None, description="Name shown to users and operators.")
    mapping: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_MAPPING),
        description="Local attribute -> legacy claim path (see users.mapping).",
    )
    connect_timeout: float | None = Field(None, gt=0, description="Seconds; default from [ferry].")
    read_timeout: float | None = Field(None, gt=0, description="Seconds; default from [ferry].")
    deadline: float = Field(DEFAULT_DEADLINE, gt=0, le=25, description="Seconds one call to "
                            "this IDP may take in all (connect, TLS, every read), below 30.")
    max_response_bytes: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024,
                                    description="Largest answer read from this IDP.")
    max_concurrent_calls: int = Field(DEFAULT_CONCURRENT_CALLS, ge=1, le=256, description="Calls "
                                      "to this IDP at once per process; beyond: unavailable.")
    ca_file: str | None = Field(None, description="PEM CA certificate(s) or self-signed "
                                "certificate to trust for TLS to this IDP.")
    breaker_failures: int = Field(
        5, ge=1, description="Consecutive unavailable answers that open the circuit breaker."
    )
    breaker_reset: float = Field(
        30.0, gt=0, description="Seconds an open breaker answers at once before one trial call."
    )
    rate_limit: str | None = Field(
        None, description='Most calls Ferry makes to this IDP, e.g. "20 per second" (shared '
        "across servers through ratelimit_storage_uri).",
    )
    send_identifier: Literal["normalised", "as_typed"] = Field(
        "normalised",
        description="What the legacy IDP receives: the normalised identifier (trimmed, "
        "lower-case) or, for a legacy store that compares case-sensitively, what the user typed "
        "(trimmed).",
    )


class Connector:
    """A configured legacy IDP. Subclasses set ``type`` and ``Settings``.

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
            settings.max_concurrent_calls)

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


class CodeThrottled(ConnectorError):
    """The legacy IDP refuses more codes or code guesses for this identifier for now."""


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


class FederationRejected(ConnectorError):
    """An answer from a redirect IdP that must not be trusted; ``reason`` is for the audit log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

