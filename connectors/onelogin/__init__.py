"""OneLogin as the legacy IDP: type ``onelogin``, over OneLogin's session login API.

Ferry checks each user's password with OneLogin's *Create Session Login Token* API
(``POST /api/1/login/auth``) used for *delegated authentication*, as OneLogin documents it:
a ``200`` ``Success`` means the password is right (Ferry never uses the session token), a
``401`` that it is not. If OneLogin asks for a second factor (``MFA is required for this
user``), Ferry asks the user for the code on its own page and finishes it with *Verify Factor*
(``POST /api/1/login/verify_factor``), so nobody who had MFA at OneLogin migrates on a password
alone. Calls are authorised with an API access token that Ferry gets with the client-credentials
grant (``POST /auth/oauth2/v2/token``) and keeps until it expires. Written against OneLogin's
developer documentation as read in December 2026 (``developers.onelogin.com/api-docs``: "Generate
Tokens" v2, "Create Session Login Token" and "Verify Factor" under Login Pages /1, "List Users"
/2); the guesses made where it is silent are listed at the end.

Setup at OneLogin:

1. In the admin console, *Developers > API Credentials > New Credential*: name it ``Ferry``
   and choose the scope *Authentication Only*. Save, and copy the *Client ID* and *Client
   Secret* into ``client_id`` and ``client_secret``.
2. Optional, for lookups (the forgot-password and one-time-code journeys for users who never
   signed in to Ferry), telling unknown and locked users apart, and the full profile: a second
   credential with the scope *Read users*; copy its pair into ``users_client_id`` and
   ``users_client_secret``. (OneLogin gives a credential one scope, and *Authentication Only*
   cannot read users.) A single pair with *Manage users* would do both, but can also change
   users: prefer the two read-only ones.
3. Your subdomain is the first part of the console's address: ``acme`` for
   ``https://acme.onelogin.com``.

Credentials belong to the administrator who created them: if that user is deleted, OneLogin
answers 500 and Ferry reports the connector unavailable. Create them as a service account.

Settings (``[connectors.<name>]``, ``type = "onelogin"``):

* ``subdomain``: the OneLogin subdomain, ``acme``; it is also sent with each login.
* ``base_url`` (optional): where the API is, by default ``https://<subdomain>.onelogin.com``;
  for a custom domain or a regional host (``https://api.eu.onelogin.com``). ``http`` only for
  loopback test servers; no path.
* ``client_id``, ``client_secret`` (use ``"env:NAME"``): the *Authentication Only* pair.
* ``users_client_id``, ``users_client_secret`` (optional, both or neither): the *Read users*
  pair. With it Ferry reads ``GET /api/2/users/{id}`` after each sign-in (``custom_attributes``,
  ``status``, ``phone``...), turns a refused unknown user into ``UserNotFound`` (a journey may
  try the next source) and a refused locked one into ``AccountBlocked("locked")``, and offers
  ``lookup`` (``GET /api/2/users?email=...``, or ``?username=`` for a name without ``@``).
* ``mapping``, ``display_name``, ``connect_timeout``, ``read_timeout``, ``deadline``,
  ``breaker_failures``, ``breaker_reset``, ``rate_limit``, ``send_identifier``: as every
  connector. OneLogin limits each access token to a number of calls an hour (5,000 by
  default): keep ``rate_limit`` under it.

Claims handed to the mapping (the default mapping fits them): ``sub`` (OneLogin's numeric user
id, as a string), ``email``, ``preferred_username`` (``username``, else ``email``),
``given_name`` / ``family_name`` (``firstname`` / ``lastname``), ``name`` (both); with the
*Read users* pair also ``phone_number``, ``locale`` (``locale_code``), ``status``,
``custom_attributes`` (map one with ``custom_attributes.employee_id``) and ``profile`` (the whole
``/2`` user object).

Outcomes:

* ``200`` ``Success`` with ``data[0].user``: the identity.
* ``401`` "Authentication Failed: Invalid user credentials": :class:`InvalidCredentials`; with
  the *Read users* pair, :class:`UserNotFound` when no such user exists and blocked ``locked``
  when the user's ``status`` is 3 (Locked) or ``locked_until`` is still ahead. A ``400`` or
  ``401`` whose message says the account is locked: blocked ``locked``.
* ``MFA is required for this user`` with a *Google Authenticator* (TOTP), *OneLogin SMS* or
  e-mail device: :class:`MfaRequired` (``totp``, ``sms``, ``email``; OneLogin sends SMS and
  e-mail codes when Verify Factor is called without ``otp_token``). A ``401`` for the code asks
  again; an invalid or expired ``state_token`` is unavailable without counting towards the
  breaker. Only other devices (OneLogin Protect push, Duo, YubiKey, WebAuthn...): blocked
  ``password_change_required``, with the device types in the log.
* A ``Success`` whose ``data[0].user`` has no ``id``: :class:`UserDataInvalid`, one user's
  refusal with the reason audited, never "try again later" and never a sign-in.
* ``429`` (the rate-limit headers are logged), 5xx, a redirect, a body that is not JSON, a ``200``
  whose body says ``error``, an unknown ``status.message``, a refused API credential or token,
  ``400`` / ``403`` / ``404``: :class:`LegacyUnavailable`, with the reason logged.

Guesses where the documentation is silent: how a locked or unactivated user's correct password
is answered (taken to be the same ``401``, hence the *Read users* check); the exact words of the
``401`` for a refused bearer token (``Authentication Failure``; any ``401`` other than the
invalid-credentials one is renewed once, then unavailable); the e-mail device's name (any
``device_type`` with "Email" in it); and the Verify Factor answer's ``user`` (when absent, the
user from the first answer is kept). Ferry always posts Verify Factor to its own ``base_url``:
the ``callback_url`` in OneLogin's answer is never followed.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from pydantic import Field, field_validator, model_validator

from connectors.base import (
    AccountBlocked,
    ConnectorSettings,
    ExternalIdentity,
    InvalidCredentials,
    LegacyUnavailable,
    MfaRequired,
    PasswordConnector,
    UserNotFound,
)
from connectors.hashes import UserDataInvalid
from connectors.http import LegacyHttp
from connectors.http_transport import is_loopback
from connectors.onelogin.answers import (
    SUSPENDED_STATUS,
    as_dict,
    code_kind,
    device_id,
    first,
    locked,
    onelogin_claims,
    user_fields,
)
from connectors.onelogin.api import Answer, OneLoginApi

log = logging.getLogger(__name__)

INVALID_USER = "Authentication Failed: Invalid user credentials"
MFA_REQUIRED = "MFA is required for this user"


class OneLoginSettings(ConnectorSettings):
    subdomain: str = Field(description="The OneLogin subdomain, acme for acme.onelogin.com.")
    base_url: str | None = Field(None, description="The API's address; default "
                                 "https://<subdomain>.onelogin.com.")
    client_id: str = Field(min_length=1, description="API credential (Authentication Only).")
    client_secret: str = Field(min_length=1, description="Its secret; use env:NAME.")
    users_client_id: str | None = Field(None, description="API credential (Read users).")
    users_client_secret: str | None = Field(None, description="Its secret; use env:NAME.")

    @field_validator("subdomain")
    @classmethod
    def _subdomain(cls, value: str) -> str:
        value = value.strip().lower().removesuffix(".onelogin.com")
        if not value.replace("-", "").isalnum() or value.startswith("-") or len(value) > 63:
            raise ValueError("must be the subdomain alone, like acme for acme.onelogin.com")
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        host = parts.hostname or ""
        if parts.scheme not in ("https", "http") or not host:
            raise ValueError("must be an https URL like https://acme.onelogin.com")
        if parts.scheme == "http" and not is_loopback(host):
            raise ValueError("must use https (http is accepted only for loopback test servers)")
        if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
            raise ValueError("must be the address alone, like https://acme.onelogin.com (no path)")
        return f"{parts.scheme}://{parts.netloc.lower()}"

    @model_validator(mode="after")
    def _users_pair(self) -> OneLoginSettings:
        if (self.users_client_id is None) != (self.users_client_secret is None):
            raise ValueError("users_client_id and users_client_secret go together")
        return self


class OneLoginConnector(PasswordConnector):
    type = "onelogin"
    Settings = OneLoginSettings
    settings: OneLoginSettings
    supports_lookup = True

    def __init__(self, name: str, settings: OneLoginSettings, config: Any) -> None:
        super().__init__(name, settings, config)
        self.base_url = settings.base_url or f"https://{settings.subdomain}.onelogin.com"
        self.api = OneLoginApi(LegacyHttp(name, self.connect_timeout, self.read_timeout, settings),
                               self.base_url, name)
        self.auth_pair = (settings.client_id, settings.client_secret)
        self.users_pair = ((settings.users_client_id, settings.users_client_secret)
                           if settings.users_client_id and settings.users_client_secret else None)
        # Lookups need the Read users pair (or, once closed, the roster answers them).
        self.supports_lookup = (self.users_pair is not None  # type: ignore[misc]
                                or settings.migration == "closed")

    # -- the password ------------------------------------------------------------------------
    def verify(self, identifier: str, password: str) -> ExternalIdentity:
        answer = self._login("/api/1/login/auth", {
            "username_or_email": identifier, "password": password,
            "subdomain": self.settings.subdomain})
        if not answer.error and answer.type == "success":
            if answer.message == "Success":
                return self._identity(answer, None)
            if answer.message == MFA_REQUIRED:
                raise self._second_factor(answer)
        if answer.code == 401 and answer.message == INVALID_USER:
            raise self._refused(identifier)
        raise self._failure("checking the password", answer)

    def _login(self, path: str, body: dict[str, Any]) -> Answer:
        return self.api.call(self.auth_pair, "client_id / client_secret", "POST", path, json=body)

    def _refused(self, identifier: str) -> InvalidCredentials | AccountBlocked:
        """A 401: with the Read users pair, tell unknown and locked users apart."""
        if self.users_pair is None:
            return InvalidCredentials()
        try:
            user = self._find_user(identifier)
        except LegacyUnavailable:
            return InvalidCredentials()  # cannot tell: still a refusal, never an outage
        if user is None:
            return UserNotFound()
        if locked(user):
            log.info("connector %s: OneLogin user %s is locked", self.name, user.get("id"))
            return AccountBlocked("locked")
        return InvalidCredentials()

    # -- the second factor -------------------------------------------------------------------
    def _second_factor(self, answer: Answer) -> MfaRequired | AccountBlocked:
        data = first(answer.body)
        state_token, devices = data.get("state_token"), data.get("devices")
        if not isinstance(state_token, str) or not state_token or not isinstance(devices, list):
            raise self.unavailable("OneLogin asked for MFA without a state_token or devices")
        user = as_dict(data.get("user"))
        by_kind: dict[str, Any] = {}
        for device in devices:
            kind = code_kind(as_dict(device).get("device_type"))
            if kind and kind not in by_kind and device_id(device) is not None:
                by_kind[kind] = device
        for kind in ("totp", "sms", "email"):
            if kind not in by_kind:
                continue
            state = {"state_token": state_token, "device_id": device_id(by_kind[kind]),
                     "user": user_fields(user)}
            if kind != "totp":
                self._send_code(state)
            return MfaRequired(state, kind)
        log.warning(
            "connector %s: OneLogin wants a second factor Ferry cannot ask for (%s); the user "
            "is told to reset the password. Ferry asks for Google Authenticator, OneLogin SMS "
            "and e-mail codes.", self.name,
            ", ".join(sorted(str(as_dict(d).get("device_type")) for d in devices)) or "none listed")
        return AccountBlocked("password_change_required")

    def _send_code(self, state: dict[str, Any]) -> None:
        """SMS and e-mail: Verify Factor without ``otp_token`` has OneLogin send the code."""
        answer = self._login("/api/1/login/verify_factor", {
            "device_id": state["device_id"], "state_token": state["state_token"]})
        if answer.error or answer.type not in ("pending", "success"):
            raise self._failure("sending the one-time code", answer)

    def complete_mfa(self, state: dict[str, Any], code: str) -> ExternalIdentity:
        state_token, device = state.get("state_token"), state.get("device_id")
        if not isinstance(state_token, str) or not isinstance(device, str):
            raise self.unavailable("the MFA state kept in the journey is incomplete")
        answer = self._login("/api/1/login/verify_factor", {
            "device_id": device, "state_token": state_token, "otp_token": code})
        if not answer.error and answer.type == "success" and answer.message == "Success":
            return self._identity(answer, as_dict(state.get("user")))
        if answer.type == "pending" and not answer.error:
            raise InvalidCredentials()  # no code accepted yet: ask again
        if answer.code == 401:
            raise InvalidCredentials()
        if answer.code == 400 and "state" in answer.message.lower():
            raise self.unavailable(f"the OneLogin sign-in expired before the code came "
                                   f"({answer.message[:80]})", outage=False)
        raise self._failure("the second factor", answer)

    # -- the profile -------------------------------------------------------------------------
    def _identity(self, answer: Answer, kept: dict[str, Any] | None) -> ExternalIdentity:
        user = as_dict(first(answer.body).get("user")) or (kept or {})
        if kept and user.get("id") is not None and str(user.get("id")) != str(kept.get("id")):
            raise self.unavailable("OneLogin's Verify Factor answer names another user")
        subject = user.get("id")
        if isinstance(subject, bool) or not isinstance(subject, (int, str)) or not str(subject):
            # OneLogin vouched for the password but the answer cannot say who: this user's
            # refusal, audited with the reason (never a sign-in, never "try again later").
            log.error("connector %s: OneLogin answered Success without data[0].user.id",
                      self.name)
            raise UserDataInvalid("OneLogin answered Success without data[0].user.id")
        identity = ExternalIdentity(self.name, str(subject), onelogin_claims(user))
        if self.users_pair is None:
            return identity
        full = self._user_by_id(identity.subject)
        if full is None:
            raise self.unavailable("OneLogin signed the user in but GET /api/2/users/{id} "
                                   "found nobody")
        return ExternalIdentity(self.name, identity.subject,
                                {**identity.claims, **onelogin_claims(full, full=True)})

    def lookup(self, identifier: str) -> ExternalIdentity | None:
        """The OneLogin user by e-mail address (or username); None when unknown.

        A suspended user raises ``AccountBlocked("disabled")`` so that no journey migrates them
        on another proof. Needs the Read users pair.
        """
        if self.users_pair is None:
            raise self.unavailable("lookup at OneLogin needs users_client_id and "
                                   "users_client_secret (a Read users credential)")
        user = self._find_user(identifier)
        if user is None:
            return None
        if user.get("status") == SUSPENDED_STATUS:
            raise AccountBlocked("disabled")
        return ExternalIdentity(self.name, str(user["id"]), onelogin_claims(user, full=True))

    def _find_user(self, identifier: str) -> dict[str, Any] | None:
        field = "email" if "@" in identifier else "username"
        answer = self._users(f"/api/2/users?{urlencode({field: identifier})}", list)
        users = [u for u in answer.body if isinstance(u, dict)]
        if len(users) > 1:
            raise UserDataInvalid(f"OneLogin has {len(users)} users with this {field}")
        return self._checked_user(users[0]) if users else None

    def _user_by_id(self, subject: str) -> dict[str, Any] | None:
        answer = self._users(f"/api/2/users/{quote(subject, safe='')}", dict, missing_ok=True)
        return None if answer.code == 404 else self._checked_user(answer.body)

    def _users(self, path: str, expect: type, missing_ok: bool = False) -> Answer:
        answer = self.api.call(self.users_pair, "users_client_id / users_client_secret", "GET",
                               path, expect=expect)
        if answer.code == 404 and missing_ok:
            return answer
        if answer.error or answer.http_status != 200:
            raise self._failure("reading users", answer)
        return answer

    def _checked_user(self, user: Any) -> dict[str, Any]:
        if not isinstance(user, dict) or isinstance(user.get("id"), bool) or not isinstance(
                user.get("id"), (int, str)):
            raise self.unavailable("OneLogin's user object has no id")
        return user

    # -- errors ------------------------------------------------------------------------------
    def _failure(self, doing: str, answer: Answer) -> AccountBlocked | LegacyUnavailable:
        message = answer.message[:120] or "no message"
        if answer.code in (400, 401) and "locked" in answer.message.lower():
            return AccountBlocked("locked")
        if answer.code == 403:
            return self.unavailable(f"OneLogin refused Ferry (403 {message}) while {doing}: does "
                                    "the API credential have the scope this needs?")
        kind = "200 with an error body" if answer.http_status == 200 and answer.error else str(
            answer.code)
        return self.unavailable(f"OneLogin answered {kind} {answer.type!r} {message!r} while "
                                f"{doing}")

