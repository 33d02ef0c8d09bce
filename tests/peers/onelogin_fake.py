"""A faithful fake of the OneLogin APIs Ferry's ``onelogin`` connector speaks, on loopback.

OneLogin is SaaS and cannot run here, so this Flask app (in a thread, real sockets) follows the
request and response shapes of OneLogin's developer documentation (developers.onelogin.com,
api-docs, as read in December 2026) for:

* **Generate Tokens v2**, ``POST /auth/oauth2/v2/token``: ``grant_type=client_credentials`` (JSON
  or form) with HTTP Basic of an API credential pair; answers the RFC 6749 token object
  (``access_token``, ``created_at``, ``expires_in`` 36000, ``refresh_token``, ``token_type``,
  ``account_id``); ``400`` "grant_type is incorrect/absent", ``401`` "Authentication Failure".
* **Create Session Login Token**, ``POST /api/1/login/auth`` (``Authorization: bearer:<token>``,
  JSON ``username_or_email``, ``password``, ``subdomain``): ``200`` ``Success`` with
  ``data[0].status = "Authenticated"``, ``user``, ``session_token``, ``expires_at``; ``200`` "MFA
  is required for this user" with ``user``, ``state_token``, ``callback_url`` and ``devices``;
  ``401`` "Authentication Failed: Invalid user credentials" (wrong password, unknown,
  unactivated, suspended or locked user; after ``MAX_INVALID_LOGINS`` wrong passwords in a row the
  user is locked, status 3 with ``locked_until``); ``400`` for a missing field, another
  subdomain or a body that is not JSON.
* **Verify Factor**, ``POST /api/1/login/verify_factor`` (``device_id``, ``state_token``,
  ``otp_token``): TOTP per RFC 6238 for *Google Authenticator*; *OneLogin SMS* sends a code when
  ``otp_token`` is left out (``200`` ``pending``); ``401`` "Failed authentication with this
  factor"; ``400`` "Invalid state_token" for an unknown, used or expired one.
* **List Users / Get User v2**, ``GET /api/2/users?email=&username=`` and ``/api/2/users/{id}``:
  a JSON list (or the user); ``401`` ``{"statusCode", "name", "message"}``, ``403`` without the
  scope, ``404``.

Every API call needs a live token of a pair whose scope allows it (``/1`` login: *Authentication
Only*, *Manage users*, *Manage All*; ``/2`` users: *Read users* and the managing ones):
``400`` "Authorization Information is incorrect" without one, ``401`` "Authentication Failure"
for an unknown or expired one, ``403`` for the wrong scope. Where the documentation is silent
(the words for a refused bearer token, an invalid state token, the e-mail device) the fake makes
the same guesses as the connector, said in :mod:`connectors.onelogin`.

Knobs for tests: :attr:`OneLoginFake.rate_limited` (every call answers ``429`` with the
``X-RateLimit-*`` headers), :meth:`expire_tokens`, :meth:`expire_transactions`, :meth:`outage`
(stopped inside; back on the same port after), :attr:`outbox` (SMS codes "sent"),
:attr:`requests`.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, jsonify, request

from tests.peers.loopback import LoopbackServer
from tests.peers.okta_users import totp

SUBDOMAIN = "acme"
TOKEN_LIFETIME = 36000  # seconds: "an access token is valid for 10 hours"
STATE_LIFETIME = 300.0
MAX_INVALID_LOGINS = 3  # the account's "Maximum invalid login attempts" (Session settings)
LOGIN_SCOPES = {"Authentication Only", "Manage users", "Manage All"}
READ_SCOPES = {"Read users", "Manage users", "Manage All"}
INVALID_USER = "Authentication Failed: Invalid user credentials"


@dataclass
class Device:
    id: int
    device_type: str  # Google Authenticator, OneLogin SMS, OneLogin Email, OneLogin Protect...
    secret: str | None = None  # base32 TOTP seed


@dataclass
class User:
    id: int
    email: str
    username: str
    password: str
    firstname: str
    lastname: str
    status: int = 1  # 0 unactivated, 1 active, 2 suspended, 3 locked, 4 password expired...
    devices: list[Device] = field(default_factory=list)
    custom_attributes: dict[str, Any] = field(default_factory=dict)
    invalid_login_attempts: int = 0
    locked_until: str | None = None

    def brief(self) -> dict[str, Any]:
        """The user in a login answer."""
        return {"id": self.id, "username": self.username, "email": self.email,
                "firstname": self.firstname, "lastname": self.lastname}

    def full(self) -> dict[str, Any]:
        """The ``/2`` user object."""
        return {**self.brief(), "status": self.status, "state": 1, "phone": "+441632960001",
                "title": "", "department": "", "company": "", "comment": "",
                "locale_code": "en", "preferred_locale_code": None, "external_id": None,
                "directory_id": None, "group_id": None, "role_ids": [], "manager_user_id": None,
                "samaccountname": None, "userprincipalname": None, "member_of": None,
                "distinguished_name": None, "trusted_idp_id": None,
                "invalid_login_attempts": self.invalid_login_attempts,
                "locked_until": self.locked_until, "invitation_sent_at": None,
                "activated_at": "2020-01-01T00:00:00.000Z", "created_at": "2020-01-01T00:00:00.000Z",
                "updated_at": "2024-03-01T09:00:00.000Z", "last_login": "2024-03-01T09:00:00.000Z",
                "password_changed_at": "2024-03-01T09:00:00.000Z",
                "custom_attributes": dict(self.custom_attributes)}


@dataclass
class Credential:
    client_id: str
    client_secret: str
    scope: str


def default_users() -> list[User]:
    return [
        User(40001865, "alice@example.com", "alice", "wonderland-1865", "Alice", "Liddell",
             custom_attributes={"employee_id": "E-1865"}),
        User(40001852, "lorina@example.com", "lorina", "locked-door-1852", "Lorina", "Liddell",
             status=3, locked_until="2099-01-01T00:00:00.000Z"),
        User(40001854, "edith@example.com", "edith", "pending-tea-1854", "Edith", "Liddell", status=0),
        User(40001866, "gryphon@example.com", "gryphon", "mock-turtle-1865", "Gryphon", "Fable",
             status=2),
        User(40001867, "hatter@example.com", "hatter", "tea-party-1865", "Mad", "Hatter",
             devices=[Device(901, "OneLogin Protect"),
                      Device(902, "Google Authenticator", secret="JBSWY3DPEHPK3PXP")]),
        User(40001868, "queen@example.com", "queen", "off-with-1865", "Queen", "Hearts",
             devices=[Device(903, "OneLogin SMS")]),
        User(40001871, "cheshire@example.com", "cheshire", "grin-only-1871", "Cheshire", "Cat",
             devices=[Device(904, "OneLogin Protect"), Device(905, "Duo Security")]),
    ]


class OneLoginFake(LoopbackServer):
    """The fake OneLogin account; use as a context manager, or :meth:`start` and :meth:`close`."""

    thread_name = "onelogin-fake"

    def __init__(self) -> None:
        self.users = {user.id: user for user in default_users()}
        self.auth = Credential("ferry-auth-" + secrets.token_hex(8), secrets.token_hex(32),
                               "Authentication Only")
        self.reader = Credential("ferry-read-" + secrets.token_hex(8), secrets.token_hex(32),
                                 "Read users")
        self.credentials = {c.client_id: c for c in (self.auth, self.reader)}
        self.rate_limited = False
        self.outbox: dict[str, str] = {}  # email -> the last SMS code "sent"
        self.requests: list[dict[str, Any]] = []
        self.tokens: dict[str, tuple[Credential, float]] = {}
        self.transactions: dict[str, dict[str, Any]] = {}
        self._used_codes: set[tuple[int, int]] = set()
        self._lock = threading.Lock()
        self._init_loopback()
        self.app = self._build_app()

    outage = LoopbackServer.stopped  # down inside; back on the same port after

    @property
    def url(self) -> str:
        return self.base_url

    # -- what tests read and turn ----------------------------------------------------------
    def user(self, email: str) -> User:
        return next(u for u in self.users.values() if u.email == email)

    def totp_secret(self, email: str) -> str:
        return next(d.secret for d in self.user(email).devices if d.secret)

    def calls(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == path]

    def expire_tokens(self) -> None:
        with self._lock:
            self.tokens = {t: (c, 0.0) for t, (c, _) in self.tokens.items()}

    def expire_transactions(self) -> None:
        with self._lock:
            for transaction in self.transactions.values():
                transaction["expires"] = 0.0

    # -- the app -----------------------------------------------------------------------------
    def _build_app(self) -> Flask:
        app = Flask("onelogin_fake")
        app.before_request(self._before)
        app.add_url_rule("/auth/oauth2/v2/token", view_func=self._token, methods=["POST"])
        app.add_url_rule("/api/1/login/auth", view_func=self._login, methods=["POST"])
        app.add_url_rule("/api/1/login/verify_factor", view_func=self._verify, methods=["POST"])
        app.add_url_rule("/api/2/users", view_func=self._list_users, methods=["GET"])
        app.add_url_rule("/api/2/users/<int:user_id>", view_func=self._get_user, methods=["GET"])
        return app

    def _before(self) -> Response | None:
        self.requests.append({"method": request.method, "path": request.path,
                              "query": request.args.to_dict(), "headers": dict(request.headers),
                              "json": request.get_json(silent=True)})
        if self.rate_limited:
            response = v1_error(429, "Too Many Requests", "Rate Limit Exceeded")
            response.headers.update({"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0",
                                     "X-RateLimit-Reset": "1200"})
            return response
        return None

    def _token(self) -> Response:
        body = request.get_json(silent=True) if request.is_json else request.form.to_dict()
        if not isinstance(body, dict) or body.get("grant_type") != "client_credentials":
            return v1_error(400, "bad request", "grant_type is incorrect/absent")
        auth = request.authorization
        pair = (auth.username, auth.password) if auth else (body.get("client_id"),
                                                           body.get("client_secret"))
        credential = self.credentials.get(pair[0] or "")
        if credential is None or not hmac.compare_digest(credential.client_secret, pair[1] or ""):
            return v1_error(401, "Unauthorized", "Authentication Failure")
        token = secrets.token_hex(32)
        with self._lock:
            self.tokens[token] = (credential, time.time() + TOKEN_LIFETIME)
        return jsonify({"access_token": token, "created_at": "2024-03-01T09:00:00.000Z",
                        "expires_in": TOKEN_LIFETIME, "refresh_token": secrets.token_hex(32),
                        "token_type": "bearer", "account_id": 555555})

    def _bearer(self, scopes: set[str], v2: bool = False) -> Response | None:
        """None when the call carries a live token of a pair with one of ``scopes``."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(":") if header.lower().startswith("bearer:") else (
            header.partition(" "))
        if scheme.lower() != "bearer" or not token.strip():
            return v1_error(400, "bad request", "Authorization Information is incorrect")
        with self._lock:
            credential, expires = self.tokens.get(token.strip(), (None, 0.0))
        if credential is None or expires < time.time():
            return v2_error(401, "UnauthorizedError", "Unauthorized") if v2 else v1_error(
                401, "Unauthorized", "Authentication Failure")
        if credential.scope not in scopes:
            return v2_error(403, "ForbiddenError", "Forbidden") if v2 else v1_error(
                403, "forbidden", "Insufficient scope for this API")
        return None

    # -- Create Session Login Token ----------------------------------------------------------
    def _login(self) -> Response:
        refused = self._bearer(LOGIN_SCOPES)
        if refused is not None:
            return refused
        if not request.is_json:
            return v1_error(400, "bad request", "Content Type is not specified or specified "
                            "incorrectly. Content-Type header must be set to application/json")
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return v1_error(400, "bad request", "Request body is not valid JSON")
        for key in ("username_or_email", "password"):
            if not isinstance(body.get(key), str) or not body[key]:
                return v1_error(400, "bad request", f"{key} is required")
        if body.get("subdomain", SUBDOMAIN) != SUBDOMAIN:
            return v1_error(400, "bad request", "Invalid subdomain")
        key = body["username_or_email"].lower()
        user = next((u for u in self.users.values() if key in (u.email, u.username)), None)
        if user is None or user.status in (0, 2, 3):
            return v1_error(401, "Unauthorized", INVALID_USER)
        if not hmac.compare_digest(user.password, body["password"]):
            user.invalid_login_attempts += 1
            if user.invalid_login_attempts >= MAX_INVALID_LOGINS:
                user.status, user.invalid_login_attempts = 3, 0
                user.locked_until = time.strftime("%Y-%m-%dT%H:%M:%S.000Z",
                                                  time.gmtime(time.time() + 1800))
            return v1_error(401, "Unauthorized", INVALID_USER)
        user.invalid_login_attempts = 0
        if user.devices:
            state_token = secrets.token_hex(20)
            with self._lock:
                self.transactions[state_token] = {"user": user, "expires": time.time() + STATE_LIFETIME}
            return v1_answer("MFA is required for this user", [{
                "user": user.brief(), "state_token": state_token,
                "callback_url": f"{self.url}/api/1/login/verify_factor",
                "devices": [{"device_type": d.device_type, "device_id": d.id} for d in user.devices]}])
        return self._authenticated(user)

    def _authenticated(self, user: User) -> Response:
        return v1_answer("Success", [{
            "status": "Authenticated", "user": user.brief(), "return_to_url": None,
            "expires_at": time.strftime("%Y/%m/%d %H:%M:%S +0000", time.gmtime(time.time() + 120)),
            "session_token": secrets.token_hex(20)}])

    # -- Verify Factor ----------------------------------------------------------------------
    def _verify(self) -> Response:
        refused = self._bearer(LOGIN_SCOPES)
        if refused is not None:
            return refused
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not body.get("device_id") or not body.get("state_token"):
            return v1_error(400, "bad request", "device_id and state_token are required")
        with self._lock:
            transaction = self.transactions.get(str(body["state_token"]))
        if transaction is None or transaction["expires"] < time.time():
            return v1_error(400, "bad request", "Invalid state_token")
        user: User = transaction["user"]
        device = next((d for d in user.devices if str(d.id) == str(body["device_id"])), None)
        if device is None:
            return v1_error(400, "bad request", "Invalid device_id")
        code = body.get("otp_token")
        if device.device_type == "OneLogin SMS" and not code:
            transaction["sent"] = f"{secrets.randbelow(1_000_000):06d}"
            self.outbox[user.email] = transaction["sent"]
            return v1_answer("SMS token sent", None, kind="pending")
        if device.device_type == "Google Authenticator" and isinstance(code, str):
            now = time.time()
            for drift in (-1, 0, 1):
                used = (device.id, int(now // 30) + drift)
                right = hmac.compare_digest(code, totp(device.secret, now, drift))
                if right and used not in self._used_codes:  # each code can be used once
                    self._used_codes.add(used)
                    return self._finish(str(body["state_token"]), user)
        if device.device_type == "OneLogin SMS" and transaction.get("sent") and isinstance(code, str) \
                and hmac.compare_digest(code, transaction["sent"]):
            return self._finish(str(body["state_token"]), user)
        return v1_error(401, "Unauthorized", "Failed authentication with this factor")

    def _finish(self, state_token: str, user: User) -> Response:
        with self._lock:
            self.transactions.pop(state_token, None)  # a state token is good for one sign-in
        return self._authenticated(user)

    # -- Users v2 ----------------------------------------------------------------------------
    def _list_users(self) -> Response:
        refused = self._bearer(READ_SCOPES, v2=True)
        if refused is not None:
            return refused
        found = [u for u in self.users.values()
                 if request.args.get("email", u.email).lower() == u.email
                 and request.args.get("username", u.username).lower() == u.username]
        response = jsonify([u.full() for u in found])
        response.headers.update({"Total-Count": str(len(found)), "Current-Page": "1",
                                 "Total-Pages": "1", "Page-Items": str(len(found))})
        return response

    def _get_user(self, user_id: int) -> Response:
        refused = self._bearer(READ_SCOPES, v2=True)
        if refused is not None:
            return refused
        user = self.users.get(user_id)
        if user is None:
            return v2_error(404, "NotFoundError", f"User with id {user_id} not found")
        return jsonify(user.full())


def v1_answer(message: str, data: list | None, kind: str = "success") -> Response:
    """OneLogin's ``/1`` success envelope."""
    body: dict[str, Any] = {"status": {"type": kind, "message": message, "code": 200, "error": False}}
    if data is not None:
        body["data"] = data
    return jsonify(body)


def v1_error(code: int, kind: str, message: str) -> Response:
    """OneLogin's ``/1`` error envelope, with the HTTP status of its ``code``."""
    response = jsonify({"status": {"error": True, "code": code, "type": kind, "message": message}})
    response.status_code = code
    return response


def v2_error(code: int, name: str, message: str) -> Response:
    """OneLogin's ``/2`` error body."""
    response = jsonify({"statusCode": code, "name": name, "message": message})
    response.status_code = code
    return response

