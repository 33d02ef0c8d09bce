"""The MFA half of the Auth0 fake (:mod:`tests.peers.auth0_fake`): the ``mfa-otp`` grant that
finishes a password-realm sign-in with an authenticator-app code (RFC 6238, a step either side,
each code once), and ``GET /mfa/authenticators`` with the MFA token.

:class:`MfaEndpoints` is a mixin of ``Auth0Fake``, which owns the state it reads (``_lock``,
``users``, ``_mfa_tokens``, ``_used_codes``) and the helpers ``_bearer`` and ``_tokens``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import TYPE_CHECKING

from flask import jsonify

from tests.peers.auth0_passwordless import error

if TYPE_CHECKING:
    from tests.peers.auth0_fake import Auth0Client

MFA_OTP = "http://auth0.com/oauth/grant-type/mfa-otp"
MFA_TOKEN_LIFETIME = 600  # seconds (Auth0: 10 minutes, not configurable)


def totp(secret: str, at: float | None = None, step: int = 30, digits: int = 6) -> str:
    """The RFC 6238 code of a base32 ``secret`` at time ``at`` (HMAC-SHA-1)."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int((time.time() if at is None else at) // step)
    mac = hmac.new(key, counter.to_bytes(8, "big"), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    number = int.from_bytes(mac[offset:offset + 4], "big") & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


class MfaEndpoints:
    """Auth0's MFA API, for ``Auth0Fake`` (see the module docstring)."""

    def code(self, email: str, at: float | None = None) -> str:
        """The user's current authenticator-app code."""
        return totp(self.users[email].totp_secret, at)

    def _mfa_otp(self, client: Auth0Client, form: dict[str, str]):
        with self._lock:
            pending = self._mfa_tokens.get(form.get("mfa_token", ""))
            if pending is None or pending["client"] != client.client_id:
                return error(403, "invalid_grant", "Malformed mfa_token")
            if pending["expires"] < time.time():
                return error(403, "expired_token", "mfa_token is expired")
            if pending["wrong"] >= 10:
                return error(429, "too_many_attempts", "Too many attempts, please try again later.")
            user = self.users[pending["email"]]
            code = form.get("otp", "")
            now = time.time()
            valid = ({totp(user.totp_secret, now + drift) for drift in (-30, 0, 30)}
                     if user.totp_secret else set())
            if code not in valid or (user.email, code) in self._used_codes:
                pending["wrong"] += 1
                return error(403, "invalid_grant", "Invalid otp_code.")
            self._used_codes.add((user.email, code))
            del self._mfa_tokens[form["mfa_token"]]
        return self._tokens(client, user, pending["scope"], pending["audience"])

    def expire_mfa_tokens(self) -> None:
        with self._lock:
            for pending in self._mfa_tokens.values():
                pending["expires"] = 0

    def _authenticators(self):
        with self._lock:
            pending = self._mfa_tokens.get(self._bearer())
        if pending is None:
            return error(401, "invalid_token", "invalid mfa_token")
        user = self.users[pending["email"]]
        listed = []
        if user.totp_secret:
            listed.append({"id": "totp|dev_fake1", "authenticator_type": "otp", "active": True})
        for kind in user.other_factors:
            listed.append({"id": f"sms|dev_{kind}", "authenticator_type": kind, "active": True,
                           "oob_channel": "sms", "name": "+1XXXXXX4242"})
        listed.append({"id": "recovery-code|dev_fake2", "authenticator_type": "recovery-code",
                       "active": True})
        return jsonify(listed)
