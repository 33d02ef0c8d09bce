"""Auth0 passwordless: the one-time codes Auth0 itself sends, for the ``auth0`` connector.

Setup at Auth0: Authentication > Passwordless > *Email*
(or *SMS*) on, enabled for Ferry's application, its *OTP Length* and *OTP Expiry* copied here;
on the application, Grant Types > *Passwordless OTP*. With the connection's *Disable Sign Ups*
off, Auth0 sends a code to any address and creates its user when the code is used. Auth0 limits
``/passwordless/start`` per IP address: set ``forward_user_ip``. Answers:

* ``/passwordless/start`` 200 (``{"_id", "email", "email_verified"}``): sent. ``bad.email``,
  ``bad.phone_number`` and any undocumented error (Auth0's answer for an unknown user with
  sign-ups off is not documented): no code for this address, shown exactly like a sent one.
* The ``passwordless/otp`` grant's ``invalid_grant`` ("Wrong email or verification code.", also
  for a used or expired code, or one killed after 3 wrong tries): wrong code.
* ``too_many_attempts`` (429, brute-force protection): throttled.
* ``bad.tenant``, ``bad.client_id``, ``bad.connection``, ``bad.authParams``, ``bad.request``,
  ``unauthorized_client``, ``access_denied``, ``invalid_client``, ``invalid_request``: Auth0
  refuses Ferry itself (logged at ERROR); those, ``sms_provider_error``, a 5xx, a timeout or
  garbage are *unavailable*. ``too_many_requests`` too, but uncounted by the circuit breaker:
  Auth0 counts it per (forwarded) IP, and one user's limit must not shut everyone out.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import has_request_context, request

from connectors.base import (
    AccountBlocked,
    CodeThrottled,
    ExternalIdentity,
    InvalidCredentials,
    PasswordlessConnector,
    UserNotFound,
)

log = logging.getLogger(__name__)

PASSWORDLESS_OTP = "http://auth0.com/oauth/grant-type/passwordless/otp"
#: Documented /passwordless/start and token errors that mean Auth0 refuses Ferry itself.
REFUSES_FERRY = frozenset({
    "bad.tenant", "bad.client_id", "bad.connection", "bad.authParams", "bad.request",
    "unauthorized_client", "access_denied", "invalid_client", "invalid_request",
})
_LANGUAGE = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")


class Auth0Passwordless(PasswordlessConnector):
    """Mixed into :class:`connectors.auth0.Auth0Connector`, whose settings (``passwordless``,
    ``otp_length``, ``otp_expiry``), HTTP client, token request and profile it uses."""

    @property
    def code_channel(self) -> str | None:
        return self.settings.passwordless

    @property
    def code_digits(self) -> int:
        return self.settings.otp_length

    @property
    def code_ttl(self) -> int:
        return self.settings.otp_expiry

    def send_code(self, identifier: str, channel: str) -> None:
        settings = self.settings
        body = {"client_id": settings.client_id, "connection": _channel(channel), "send": "code",
                "email" if channel == "email" else "phone_number": identifier}
        if settings.client_auth != "none":
            # /passwordless/start takes the secret in the body only, whatever client_auth says.
            body["client_secret"] = settings.client_secret or ""
        headers = self.token_headers()
        language = _language()
        if language:
            headers["x-request-language"] = language  # Auth0 picks the message's language
        response = self.http.request("POST", settings.passwordless_start_url, json=body,
                                     headers=headers)
        if response.status_code >= 500:
            raise self.unavailable(f"/passwordless/start answered {response.status_code}")
        answer = self.http.json(response)
        if response.status_code == 200:
            if not isinstance(answer.get("_id"), str):
                raise self.unavailable("/passwordless/start accepted without an _id")
            return
        error = answer.get("error")
        description = error_text(answer.get("error_description"))
        if error == "too_many_attempts":
            raise CodeThrottled()
        if error == "too_many_requests" or response.status_code == 429:
            raise self.unavailable(f"Auth0 rate limit reached at /passwordless/start ({error!r})",
                                   outage=False)
        if error == "sms_provider_error":
            raise self.unavailable(f"Auth0 could not send the SMS: {description}")
        if error in REFUSES_FERRY or response.status_code in (401, 403):
            self._refused_ferry(response.status_code, error, description)
        # The address itself: malformed for Auth0, or unknown where sign-ups are off.
        log.info("connector %s: Auth0 sends no code to this address (%s)", self.name, error)
        raise UserNotFound()

    def check_code(self, identifier: str, code: str, channel: str) -> ExternalIdentity:
        form = {"grant_type": PASSWORDLESS_OTP, "realm": _channel(channel), "username": identifier,
                "otp": code, "scope": self.settings.scope}
        if self.settings.audience:
            form["audience"] = self.settings.audience
        return self.identity(self.request_token(form))

    def raise_for_code_error(self, status: int, body: dict[str, Any]) -> None:
        """Errors of the passwordless/otp grant: a wrong code is the user's to retry."""
        error = body.get("error")
        description = error_text(body.get("error_description"))
        if error in ("invalid_grant", "unauthorized") and "user is blocked" in description.lower():
            raise AccountBlocked("locked")
        if error == "invalid_grant":
            raise InvalidCredentials()  # wrong, used, expired, or killed after 3 wrong tries
        if error == "too_many_attempts":
            raise CodeThrottled()
        if error == "too_many_requests" or status == 429:
            raise self.unavailable(f"Auth0 rate limit reached ({error!r}, HTTP {status})",
                                   outage=False)
        self._refused_ferry(status, error, description)

    def _refused_ferry(self, status: int, error: Any, description: str) -> None:
        log.error("connector %s: Auth0 refused Ferry itself (%s, %s: %s): check its settings",
                  self.name, status, error, description)
        raise self.unavailable(f"token endpoint error {error!r} (HTTP {status}): {description}")


def error_text(value: Any) -> str:
    """An error description from Auth0, cut to a loggable length."""
    return value[:300] if isinstance(value, str) else ""


def _channel(channel: str) -> str:
    # Auth0's passwordless connections are named after their channel: "email" and "sms".
    if channel not in ("email", "sms"):
        raise ValueError(f"unknown passwordless channel {channel!r}")
    return channel


def _language() -> str | None:
    """The user's preferred language (a plain tag such as ``fr-CA``), when a user is asking."""
    if not has_request_context():
        return None
    best = request.accept_languages.best
    return best if best and _LANGUAGE.match(best) else None
