"""The passwordless half of the Auth0 fake (:mod:`tests.peers.auth0_fake`): ``POST
/passwordless/start`` and the ``passwordless/otp`` grant, with Auth0's users, connections,
codes "sent" and error bodies for them.

:class:`PasswordlessEndpoints` is a mixin of ``Auth0Fake``, which owns the state it reads
(``_lock``, ``clients``, ``passwordless``, ``passwordless_users``, ``sent``, ``_codes``,
``failures``, ``brute_force_limit``, ``rate_limited``) and the helpers ``_user_address`` and
``_tokens``.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Response, jsonify, request

if TYPE_CHECKING:
    from tests.peers.auth0_fake import Auth0Client

PASSWORDLESS_OTP = "http://auth0.com/oauth/grant-type/passwordless/otp"
DEFAULT_CONNECTION = "Username-Password-Authentication"
BLOCKED_AFTER_ATTEMPTS = ("Your account has been blocked after multiple consecutive login "
                          "attempts. We've sent you an email with instructions on how to unblock it.")
CODE_TRIES = 3  # Auth0: "Only three failed attempts to input the OTP are allowed"
WRONG_CODE = {"email": "Wrong email or verification code.",
              "sms": "Wrong phone number or verification code."}
START_PROPERTIES = {"client_id", "client_secret", "connection", "email", "phone_number", "send",
                    "authParams"}
PHONE = re.compile(r"^\+[0-9]{1,15}$")


@dataclass
class PasswordlessUser:
    """A user of a passwordless connection (``email`` or ``sms``), keyed by address."""

    address: str  # the e-mail address (lower-case) or E.164 phone number
    user_id: str  # "email|..." or "sms|..."
    connection: str = "email"
    given_name: str | None = None
    family_name: str | None = None

    def profile(self, scope: set[str]) -> dict[str, Any]:
        claims: dict[str, Any] = {"sub": self.user_id}
        if "profile" in scope:
            claims.update(name=self.address, nickname=self.address.split("@")[0],
                          picture="https://s.gravatar.com/avatar/1.png",
                          updated_at="2024-05-02T10:00:00.000Z")
            if self.given_name:
                claims.update(given_name=self.given_name, family_name=self.family_name)
        if "email" in scope and self.connection == "email":
            claims.update(email=self.address, email_verified=True)  # the code proved it
        if "phone" in scope and self.connection == "sms":
            claims.update(phone_number=self.address, phone_number_verified=True)
        return claims


@dataclass
class PasswordlessConnection:
    """Authentication > Passwordless > Email or SMS, as configured in the dashboard."""

    name: str
    enabled: bool = True
    disable_signup: bool = False
    otp_length: int = 6
    otp_expiry: int = 180  # seconds


@dataclass(frozen=True)
class SentCode:
    """A code the fake "sent" (by e-mail or SMS), for the test to read like a user would."""

    connection: str
    to: str
    code: str
    language: str | None


class PasswordlessEndpoints:
    """Auth0's passwordless API, for ``Auth0Fake`` (see the module docstring)."""

    def add_passwordless_user(self, user: PasswordlessUser) -> PasswordlessUser:
        self.passwordless_users[(user.connection, user.address)] = user
        return user

    def last_code(self, to: str) -> str:
        """The last code "sent" to an address, as the user would read it in their mailbox."""
        with self._lock:
            return next(s.code for s in reversed(self.sent) if s.to == to.lower())

    def expire_codes(self) -> None:
        with self._lock:
            for pending in self._codes.values():
                pending["expires"] = 0

    # -- passwordless -----------------------------------------------------------------------
    def _passwordless_start(self):
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return error(400, "bad.request", "the request body must be a JSON object")
        if self.rate_limited:
            return error(429, "too_many_requests", "Global limit has been reached")
        extra = sorted(set(body) - START_PROPERTIES)
        if extra:
            return error(400, "bad.request",
                         f"the following properties are not allowed: {', '.join(extra)}")
        if not body.get("client_id"):
            return error(400, "bad.client_id", "Missing required property: client_id")
        client = self.clients.get(body["client_id"])
        # The secret travels in the body here, whatever the token endpoint's method.
        if client is None or (client.auth_method != "none" and not hmac.compare_digest(
                str(body.get("client_secret", "")), client.client_secret or "")):
            return error(401, "access_denied", "Unauthorized")
        name = body.get("connection")
        if not name:
            return error(400, "bad.connection", "Missing required property: connection")
        if name == DEFAULT_CONNECTION:
            return error(400, "bad.connection", "Invalid connection strategy. It must either be "
                         "a passwordless connection")
        connection = self.passwordless.get(name)
        if connection is None:
            return error(400, "bad.connection", "Connection does not exist")
        if not connection.enabled or name not in client.connections:
            return error(400, "bad.connection", "Connection is disabled")
        if "authParams" in body and not isinstance(body["authParams"], dict):
            return error(400, "bad.authParams",
                         "error in authParams - invalid type: string (expected object)")
        if body.get("send", "link") != "code":
            return error(400, "bad.request", "this fake sends codes only (send: \"code\")")
        if name == "email":
            address = str(body.get("email", "")).strip().lower()
            if not address:
                return error(400, "bad.email", "Missing required property: email")
            if address.count("@") != 1 or "." not in address.partition("@")[2]:
                return error(400, "bad.email", "Invalid email")
        else:
            address = str(body.get("phone_number", ""))
            if not address:
                return error(400, "bad.phone_number", "Missing required property: phone_number")
            if not PHONE.match(address):
                return error(400, "bad.phone_number", f"String does not match pattern: {PHONE.pattern}")
        user = self.passwordless_users.get((name, address))
        with self._lock:
            if self.failures[(f"{name}:{address}", self._user_address(client))] >= \
                    self.brute_force_limit:
                return error(429, "too_many_attempts", BLOCKED_AFTER_ATTEMPTS)
        if user is None and connection.disable_signup:
            return error(400, "signup_disabled", "Public signup is disabled")
        code = f"{secrets.randbelow(10**connection.otp_length):0{connection.otp_length}d}"
        with self._lock:
            # Only the last code sent is accepted; its wrong tries start from zero.
            self._codes[(name, address)] = {"code": code, "client": client.client_id, "wrong": 0,
                                            "expires": time.time() + connection.otp_expiry}
            self.sent.append(SentCode(name, address, code,
                                      request.headers.get("x-request-language")))
        answer_id = user.user_id.partition("|")[2] if user else secrets.token_hex(12)
        if name == "email":
            return jsonify({"_id": answer_id, "email": address, "email_verified": False})
        return jsonify({"_id": answer_id, "phone_number": address, "phone_verified": False,
                        "request_language": None})

    def _passwordless_otp(self, client: Auth0Client, form: dict[str, str]):
        for name in ("username", "otp", "realm"):
            if not form.get(name):
                return error(400, "invalid_request", f"Missing required parameter: {name}")
        realm = form["realm"]
        connection = self.passwordless.get(realm)
        if connection is None:
            return error(400, "invalid_request", "the connection was not found")
        if not connection.enabled or realm not in client.connections:
            return error(400, "invalid_request", "the connection was disabled")
        address = form["username"].strip()
        address = address.lower() if realm == "email" else address
        key, counted = (realm, address), (f"{realm}:{address}", self._user_address(client))
        with self._lock:
            if self.failures[counted] >= self.brute_force_limit:
                return error(429, "too_many_attempts", BLOCKED_AFTER_ATTEMPTS)
            pending = self._codes.get(key)
            live = (pending is not None and pending["client"] == client.client_id
                    and pending["expires"] >= time.time())
            if not live or not hmac.compare_digest(form["otp"], pending["code"]):
                self.failures[counted] += 1
                if live:
                    pending["wrong"] += 1
                    if pending["wrong"] >= CODE_TRIES:
                        del self._codes[key]  # a new code must be requested
                return error(403, "invalid_grant", WRONG_CODE[realm])
            del self._codes[key]  # single use
            self.failures.pop(counted, None)
            user = self.passwordless_users.get(key)
            if user is None:  # sign-up: the user is created when the code is first used
                user = self.add_passwordless_user(
                    PasswordlessUser(address, f"{realm}|{secrets.token_hex(12)}", realm))
        return self._tokens(client, user, set(form.get("scope", "").split()), form.get("audience"))


def error(status: int, code: str, description: str, **extra: str) -> Response:
    answer = jsonify({"error": code, "error_description": description, **extra})
    answer.status_code = status
    return answer
