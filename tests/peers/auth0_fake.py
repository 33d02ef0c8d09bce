"""A faithful fake of Auth0's Authentication API for the ``auth0`` connector's tests.

Auth0 is SaaS and cannot run here, so this small real HTTP server on 127.0.0.1 (a Flask app
served by werkzeug in a thread) implements the part of it Ferry uses, as Auth0 documents it:

* ``POST /oauth/token`` with ``grant_type=http://auth0.com/oauth/grant-type/password-realm``
  (``username``, ``password``, ``realm``, ``scope``, optional ``audience``; client
  authentication by ``client_secret`` in the body or HTTP Basic) and with
  ``grant_type=http://auth0.com/oauth/grant-type/mfa-otp`` (``mfa_token``, ``otp``);
* ``POST /passwordless/start`` (JSON: ``client_id``, ``client_secret``, ``connection`` ``email``
  or ``sms``, ``email`` or ``phone_number``, ``send: "code"``, optional ``authParams``) and the
  ``http://auth0.com/oauth/grant-type/passwordless/otp`` grant (``username``, ``otp``,
  ``realm``, ``scope``): Auth0's own one-time codes, which the fake "sends" into :attr:`sent`;
* ``GET /userinfo`` with the access token; ``GET /mfa/authenticators`` with the MFA token;
* ``GET /.well-known/jwks.json`` (ID tokens are RS256-signed, ``iss`` is ``{base}/``).

Answers, as Auth0 gives them (documented or widely reported; ``error``/``error_description``):

=================================================  ====  =========================================
case                                               HTTP  body
=================================================  ====  =========================================
wrong password or unknown user                     403   invalid_grant, "Wrong email or password."
user blocked by an administrator                   403   invalid_grant, "user is blocked"
brute-force protection (per user and IP address)   429   too_many_attempts, "Your account has been
                                                         blocked after multiple consecutive ..."
breached password detection                        403   password_leaked, "This login attempt ..."
MFA enrolled                                       403   mfa_required, + ``mfa_token``
wrong OTP                                          403   invalid_grant, "Invalid otp_code."
unknown / expired ``mfa_token``                    403   invalid_grant "Malformed mfa_token" /
                                                         expired_token "mfa_token is expired"
wrong or missing client credentials                401   access_denied, "Unauthorized"
grant type not enabled for the client              403   unauthorized_client, "Grant type '...' not
                                                         allowed for the client."
unknown audience                                   403   access_denied, "Service not found: ..."
connection (realm) not enabled for the client      400   invalid_request
tenant rate limit (``rate_limited = True``)        429   too_many_requests, + x-ratelimit-* headers
/passwordless/start accepted                       200   {"_id", "email", "email_verified": false}
  connection missing / unknown / off for client    400   bad.connection, "Connection does not
                                                         exist" / "Connection is disabled"
  a database connection named                      400   bad.connection, "Invalid connection
                                                         strategy. It must either be a ..."
  malformed e-mail / phone number                  400   bad.email / bad.phone_number
  a property Auth0 does not take                   400   bad.request, "the following properties
                                                         are not allowed: ..."
  unknown user, connection's sign-ups off          400   signup_disabled (approximation, below)
  wrong or missing client secret                   401   access_denied, "Unauthorized"
passwordless/otp: wrong, used or expired code      403   invalid_grant, "Wrong email or
                                                         verification code." (sms: "Wrong phone
                                                         number or verification code.")
  brute-force protection (per user and IP)         429   too_many_attempts
=================================================  ====  =========================================

Sources: Auth0's docs (password-realm request, ``mfa_required`` and the mfa-otp grant, MFA
authenticators, brute-force protection and the ``auth0-forwarded-for`` header, rate-limit
headers) and answers Auth0 users report in Auth0's own GitHub issues ("user is blocked",
``access_denied``/"Unauthorized", the ``unauthorized_client`` wording). The answer for a realm
not enabled for the client is not documented; the fake's ``invalid_request`` is an
approximation, and Ferry treats every such answer alike (unavailable), so nothing depends on it.

Brute-force protection counts wrong passwords per user and IP address: the connection's
address, or the ``auth0-forwarded-for`` header's when the client is confidential and trusts it
(Auth0's "Trust Token Endpoint IP Header"). One-time codes are RFC 6238 TOTP (SHA-1, 30 s, 6 digits,
one step of drift either way, each code usable once), checked by :func:`totp` below.

Passwordless codes follow Auth0's documented rules: ``otp_length`` digits, valid ``otp_expiry``
seconds (Auth0's default: 180), only the last code sent is accepted, a used code is gone, and
3 wrong tries kill a code (then even the right one gets ``invalid_grant``). With sign-ups on
(the default) a code goes to any address and the user is created in the passwordless
connection (``email|...``) when the code is first used, as Auth0 does. What Auth0 answers for
an unknown address when the connection's *Disable Sign Ups* is on is not documented: the fake's
``signup_disabled`` is an approximation, and Ferry treats every undocumented refusal alike (no
code for that address), so nothing depends on its name. Wrong codes count towards the same
per-user-and-IP brute-force limit as wrong passwords.

For the failures no real Auth0 produces on demand, ``faults[path] = Fault(...)`` makes a path
answer 5xx, HTML or hang; :meth:`Auth0Fake.stopped` is an outage (connections refused).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, jsonify, request
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.peers.loopback import LoopbackServer

PASSWORD_REALM = "http://auth0.com/oauth/grant-type/password-realm"
MFA_OTP = "http://auth0.com/oauth/grant-type/mfa-otp"
PASSWORDLESS_OTP = "http://auth0.com/oauth/grant-type/passwordless/otp"
DEFAULT_CONNECTION = "Username-Password-Authentication"
BLOCKED_AFTER_ATTEMPTS = ("Your account has been blocked after multiple consecutive login "
                          "attempts. We've sent you an email with instructions on how to unblock it.")
LEAKED = ("This login attempt has been blocked because the password you're using was previously "
          "disclosed through a data breach (not in this application).")
MFA_TOKEN_LIFETIME = 600  # seconds (Auth0: 10 minutes, not configurable)
CODE_TRIES = 3  # Auth0: "Only three failed attempts to input the OTP are allowed"
WRONG_CODE = {"email": "Wrong email or verification code.",
              "sms": "Wrong phone number or verification code."}
START_PROPERTIES = {"client_id", "client_secret", "connection", "email", "phone_number", "send",
                    "authParams"}
PHONE = re.compile(r"^\+[0-9]{1,15}$")
HANG_LIMIT = 30.0


def totp(secret: str, at: float | None = None, step: int = 30, digits: int = 6) -> str:
    """The RFC 6238 code of a base32 ``secret`` at time ``at`` (HMAC-SHA-1)."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int((time.time() if at is None else at) // step)
    mac = hmac.new(key, counter.to_bytes(8, "big"), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    number = int.from_bytes(mac[offset:offset + 4], "big") & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


@functools.cache
def signing_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "auth0-fake-1", "use": "sig", "alg": "RS256"})


@dataclass
class Auth0User:
    email: str
    password: str
    user_id: str
    given_name: str
    family_name: str
    email_verified: bool = True
    blocked: bool = False  # blocked by an administrator
    leaked: bool = False  # breached password detection flags the password
    totp_secret: str | None = None  # enrolled in MFA with an authenticator app
    other_factors: tuple[str, ...] = ()  # e.g. ("oob",): SMS / push, which Ferry cannot answer
    connection: str = DEFAULT_CONNECTION

    def profile(self, scope: set[str]) -> dict[str, Any]:
        claims: dict[str, Any] = {"sub": self.user_id}
        if "profile" in scope:
            claims.update(name=f"{self.given_name} {self.family_name}", given_name=self.given_name,
                          family_name=self.family_name, nickname=self.email.split("@")[0],
                          picture="https://s.gravatar.com/avatar/0.png",
                          updated_at="2024-05-01T10:00:00.000Z")
        if "email" in scope:
            claims.update(email=self.email, email_verified=self.email_verified)
        return claims


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


@dataclass
class Auth0Client:
    client_id: str
    client_secret: str | None
    auth_method: str = "client_secret_post"  # or client_secret_basic, none
    grant_types: set[str] = field(default_factory=lambda: {PASSWORD_REALM, MFA_OTP,
                                                           PASSWORDLESS_OTP})
    connections: set[str] = field(default_factory=lambda: {DEFAULT_CONNECTION, "email", "sms"})
    trust_ip_header: bool = False


@dataclass(frozen=True)
class Fault:
    """A scripted misbehaviour of one path."""

    status: int = 500
    body: str = '{"error":"server_error"}'
    content_type: str = "application/json"
    hang: bool = False


@dataclass(frozen=True)
class Seen:
    """A request the fake received (form values included: this is a test double)."""

    path: str
    remote_addr: str | None
    headers: dict[str, str]
    form: dict[str, str]



class Auth0Fake(LoopbackServer):
    """The fake tenant; use as a context manager, or :meth:`start` and :meth:`close`."""
    thread_name = "auth0-fake"

    def __init__(self, brute_force_limit: int = 10) -> None:
        self.brute_force_limit = brute_force_limit
        self.users: dict[str, Auth0User] = {}
        self.clients: dict[str, Auth0Client] = {}
        self.audiences = {"https://api.example.com"}
        self.faults: dict[str, Fault] = {}
        self.rate_limited = False
        self.seen: list[Seen] = []
        self.failures: Counter[tuple[str, str | None]] = Counter()
        self._access_tokens: dict[str, tuple[Auth0User | PasswordlessUser, set[str]]] = {}
        self._mfa_tokens: dict[str, dict[str, Any]] = {}
        self._used_codes: set[tuple[str, str]] = set()
        self.passwordless = {name: PasswordlessConnection(name) for name in ("email", "sms")}
        self.passwordless_users: dict[tuple[str, str], PasswordlessUser] = {}
        self.sent: list[SentCode] = []
        self._codes: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._init_loopback()
        self.app = self._build_app()
        self._seed()

    def _seed(self) -> None:
        self.client = self.add_client(Auth0Client("ferry-client-id", "ferry-client-secret-0123456789"))
        for user in (
            Auth0User("alice@example.com", "wonderland-1865", "auth0|alice0001", "Alice", "Liddell"),
            Auth0User("bob@example.com", "builder-1998", "auth0|bob0002", "Bob", "Builder"),
            Auth0User("carol@example.com", "locked-out-42", "auth0|carol0003", "Carol", "Blocked",
                      blocked=True),
            Auth0User("leaked@example.com", "password123", "auth0|leaked0004", "Lee", "Ked",
                      leaked=True),
            Auth0User("mallory@example.com", "second-factor-7", "auth0|mallory0005", "Mallory",
                      "Mfa", totp_secret="JBSWY3DPEHPK3PXP"),
            Auth0User("sam@example.com", "sms-only-8", "auth0|sam0006", "Sam", "Sms",
                      other_factors=("oob",)),
        ):
            self.add_user(user)
        # Alice also signed in with e-mail codes before (a separate Auth0 user, not linked).
        self.add_passwordless_user(PasswordlessUser(
            "alice@example.com", "email|65f0c1a2b3d4e5f601234567", given_name="Alice",
            family_name="Liddell"))
        self.add_passwordless_user(PasswordlessUser("+15555550100", "sms|65f0c1a2b3d4e5f6012345ff",
                                                    connection="sms"))

    def add_user(self, user: Auth0User) -> Auth0User:
        self.users[user.email.lower()] = user
        return user

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

    def add_client(self, client: Auth0Client) -> Auth0Client:
        self.clients[client.client_id] = client
        return client

    def calls(self, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path == path]

    def code(self, email: str, at: float | None = None) -> str:
        """The user's current authenticator-app code."""
        return totp(self.users[email].totp_secret, at)

    # -- the API ------------------------------------------------------------------------------
    def _build_app(self) -> Flask:
        app = Flask("auth0_fake")

        @app.before_request
        def record_and_fault():
            form = dict(request.form) or dict(request.get_json(silent=True) or {})
            with self._lock:
                self.seen.append(Seen(request.path, request.remote_addr, dict(request.headers), form))
            fault = self.faults.get(request.path)
            if fault is None:
                return None
            if fault.hang:
                self._released.wait(HANG_LIMIT)
            return Response(fault.body, fault.status, content_type=fault.content_type)

        app.post("/oauth/token")(self._token)
        app.post("/passwordless/start")(self._passwordless_start)
        app.get("/userinfo")(self._userinfo)
        app.get("/mfa/authenticators")(self._authenticators)
        app.get("/.well-known/jwks.json")(
            lambda: jsonify({"keys": [signing_key().as_dict(private=False)]}))
        return app

    def _token(self):
        form = dict(request.form) or dict(request.get_json(silent=True) or {})
        if self.rate_limited:
            answer = error(429, "too_many_requests", "Global limit has been reached")
            answer.headers.update({"x-ratelimit-limit": "300", "x-ratelimit-remaining": "0",
                                   "x-ratelimit-reset": str(int(time.time()) + 60)})
            return answer
        client = self._authenticated_client(form)
        if client is None:
            return error(401, "access_denied", "Unauthorized")
        grant = form.get("grant_type")
        if grant not in (PASSWORD_REALM, MFA_OTP, PASSWORDLESS_OTP):
            return error(400, "unsupported_grant_type", f"Unsupported grant type: {grant}")
        if grant not in client.grant_types:
            return error(403, "unauthorized_client", f"Grant type '{grant}' not allowed for the client.")
        if grant == MFA_OTP:
            return self._mfa_otp(client, form)
        if grant == PASSWORDLESS_OTP:
            return self._passwordless_otp(client, form)
        return self._password_realm(client, form)

    def _authenticated_client(self, form: dict[str, str]) -> Auth0Client | None:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = request.authorization
        if basic is not None and basic.type == "basic":
            client_id, secret = basic.username, basic.password
        client = self.clients.get(client_id or "")
        if client is None:
            return None
        if client.auth_method == "none":
            return client
        if secret is None or not hmac.compare_digest(secret, client.client_secret or ""):
            return None
        expected_basic = client.auth_method == "client_secret_basic"
        return client if expected_basic == (basic is not None) else None

    def _password_realm(self, client: Auth0Client, form: dict[str, str]):
        for name in ("username", "password", "realm"):
            if not form.get(name):
                return error(400, "invalid_request", f"Missing required parameter: {name}")
        realm = form["realm"]
        if realm not in client.connections:
            return error(400, "invalid_request", f"the connection {realm} is not enabled for the client")
        audience = form.get("audience")
        if audience and audience not in self.audiences:
            return error(403, "access_denied", f"Service not found: {audience}")
        address = self._user_address(client)
        email = form["username"].strip().lower()  # database connections compare e-mails lower-case
        user = self.users.get(email)
        key = (email, address)
        with self._lock:
            if self.failures[key] >= self.brute_force_limit:
                return error(429, "too_many_attempts", BLOCKED_AFTER_ATTEMPTS)
            if user is None or user.connection != realm or not hmac.compare_digest(
                    form["password"], user.password):
                self.failures[key] += 1
                return error(403, "invalid_grant", "Wrong email or password.")
            self.failures.pop(key, None)
        if user.blocked:
            return error(403, "invalid_grant", "user is blocked")
        if user.leaked:
            return error(403, "password_leaked", LEAKED)
        scope = set(form.get("scope", "").split())
        if user.totp_secret or user.other_factors:
            mfa_token = "Fe26.2**" + secrets.token_urlsafe(24)
            with self._lock:
                self._mfa_tokens[mfa_token] = {"email": email, "client": client.client_id,
                                               "scope": scope, "audience": audience,
                                               "expires": time.time() + MFA_TOKEN_LIFETIME,
                                               "wrong": 0}
            return error(403, "mfa_required", "Multifactor authentication required",
                         mfa_token=mfa_token)
        return self._tokens(client, user, scope, audience)

    def _user_address(self, client: Auth0Client) -> str | None:
        """The IP address brute-force protection counts: the forwarded one if trusted."""
        address = request.remote_addr
        if client.trust_ip_header and client.auth_method != "none":
            address = request.headers.get("auth0-forwarded-for", address)
        return address

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

    def expire_mfa_tokens(self) -> None:
        with self._lock:
            for pending in self._mfa_tokens.values():
                pending["expires"] = 0

    def _tokens(self, client: Auth0Client, user: Auth0User | PasswordlessUser, scope: set[str],
                audience: str | None):
        access_token = secrets.token_urlsafe(24)
        with self._lock:
            self._access_tokens[access_token] = (user, scope)
        body: dict[str, Any] = {"access_token": access_token, "token_type": "Bearer",
                                "expires_in": 86400, "scope": " ".join(sorted(scope))}
        if "openid" in scope:
            now = int(time.time())
            claims = {**user.profile(scope), "iss": self.base_url + "/", "aud": client.client_id,
                      "iat": now, "exp": now + 36000}
            body["id_token"] = jwt.encode({"alg": "RS256", "typ": "JWT", "kid": "auth0-fake-1"},
                                          claims, signing_key())
        return jsonify(body)

    def _bearer(self) -> str:
        header = request.headers.get("Authorization", "")
        return header[7:] if header.startswith("Bearer ") else ""

    def _userinfo(self):
        with self._lock:
            granted = self._access_tokens.get(self._bearer())
        if granted is None or "openid" not in granted[1]:
            return Response("Unauthorized", 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        user, scope = granted
        return jsonify(user.profile(scope))

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


def error(status: int, code: str, description: str, **extra: str) -> Response:
    answer = jsonify({"error": code, "error_description": description, **extra})
    answer.status_code = status
    return answer
