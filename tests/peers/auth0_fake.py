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

import functools
import hmac
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, jsonify, request
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.peers.auth0_mfa import MFA_OTP, MFA_TOKEN_LIFETIME, MfaEndpoints
from tests.peers.auth0_passwordless import (
    BLOCKED_AFTER_ATTEMPTS,
    DEFAULT_CONNECTION,
    PASSWORDLESS_OTP,
    PasswordlessConnection,
    PasswordlessEndpoints,
    PasswordlessUser,
    SentCode,
    error,
)
from tests.peers.loopback import LoopbackServer

PASSWORD_REALM = "http://auth0.com/oauth/grant-type/password-realm"
LEAKED = ("This login attempt has been blocked because the password you're using was previously "
          "disclosed through a data breach (not in this application).")
HANG_LIMIT = 30.0


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



class Auth0Fake(MfaEndpoints, PasswordlessEndpoints, LoopbackServer):
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

    def add_client(self, client: Auth0Client) -> Auth0Client:
        self.clients[client.client_id] = client
        return client

    def calls(self, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path == path]

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
