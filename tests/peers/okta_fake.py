"""A faithful fake of the Okta APIs Ferry's ``okta`` connector speaks, on loopback.

Okta is SaaS and cannot run here, so this Flask app (in a thread, real sockets) implements the
documented request and response shapes of:

* the Authentication API: ``POST /api/v1/authn`` (statuses ``SUCCESS``, ``PASSWORD_WARN`` (only
  when ``options.warnBeforePasswordExpired`` is true), ``LOCKED_OUT``, ``PASSWORD_EXPIRED``,
  ``MFA_REQUIRED``, ``MFA_ENROLL``; ``401 E0000004`` for a wrong password, unknown, suspended or
  deactivated user) and ``POST /api/v1/authn/factors/{id}/verify`` (TOTP verified per RFC 6238 with
  one step of drift and no replay; SMS and e-mail send a code on a verify without ``passCode``;
  ``403 E0000068`` for a wrong code, ``401 E0000011`` for an unknown, finished or expired state
  token, ``403 E0000079`` in the wrong state);
* the Users API: ``GET /api/v1/users/{id or login}`` with ``Authorization: SSWS {token}``
  (``401 E0000011``, ``404 E0000007``);
* a custom authorization server ``default``: ``/oauth2/default/v1/token`` (password grant,
  ``client_secret_basic`` or ``_post``; ``invalid_grant`` "The credentials provided were
  invalid.", ``invalid_client``, ``access_denied`` when a policy wants MFA), ``/v1/userinfo`` and
  ``/v1/keys`` (RS256 ID tokens).

Knobs for tests: :attr:`OktaFake.rate_limited` (every call answers ``429 E0000047``),
:meth:`OktaFake.expire_transactions`, :meth:`OktaFake.outage` (the server is stopped; the same
port comes back), :attr:`OktaFake.outbox` (SMS / e-mail codes "sent"), :attr:`OktaFake.requests`.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from typing import Any

from flask import Flask, Response, jsonify, request
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.peers.loopback import LoopbackServer
from tests.peers.okta_users import Factor, Transaction, User, default_users, totp

SIGNING_KEY = RSAKey.generate_key(2048, parameters={"kid": "fake-okta-1", "use": "sig"})
ERROR_SUMMARIES = {
    "E0000001": "Api validation failed",
    "E0000003": "The request body was not well-formed.",
    "E0000004": "Authentication failed",
    "E0000007": "Not found: Resource not found",
    "E0000011": "Invalid token provided",
    "E0000047": "API call exceeded rate limit due to too many requests.",
    "E0000068": "Invalid Passcode/Answer",
    "E0000079": "This operation is not allowed in the current authentication state.",
}
TRANSACTION_LIFETIME = 300.0  # seconds: Okta's state tokens live about five minutes


class OktaFake(LoopbackServer):
    """The fake Okta org; use as a context manager, or :meth:`start` and :meth:`close`."""

    thread_name = "okta-fake"

    def __init__(self) -> None:
        self.users = {user.id: user for user in default_users()}
        self.api_token = "00fake-api-token-" + secrets.token_urlsafe(12)
        self.client_id = "0oaferryfake"
        self.client_secret = "fake-client-secret-" + secrets.token_urlsafe(12)
        self.authorization_servers = {"default"}
        self.rate_limited = False
        self.outbox: dict[str, str] = {}  # login -> the last SMS / e-mail code "sent"
        self.requests: list[dict[str, Any]] = []
        self.transactions: dict[str, Transaction] = {}
        self.access_tokens: dict[str, User] = {}
        self._used_codes: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        self._init_loopback()
        self.app = self._build_app()

    # -- lifecycle: start, stop, close and the context manager come from LoopbackServer ------
    outage = LoopbackServer.stopped  # the org is down inside; back on the same port after

    @property
    def url(self) -> str:
        return self.base_url

    # -- what tests read -------------------------------------------------------------------
    def user(self, login: str) -> User:
        return next(u for u in self.users.values() if u.login == login)

    def totp_secret(self, login: str) -> str:
        return next(f.secret for f in self.user(login).factors if f.secret)

    def expire_transactions(self) -> None:
        with self._lock:
            for transaction in self.transactions.values():
                transaction.expires = 0.0

    def calls(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == path]

    # -- the app -----------------------------------------------------------------------------
    def _build_app(self) -> Flask:
        app = Flask("okta_fake")
        app.before_request(self._before)
        app.add_url_rule("/api/v1/authn", view_func=self._authn, methods=["POST"])
        app.add_url_rule("/api/v1/authn/factors/<factor_id>/verify", view_func=self._verify,
                         methods=["POST"])
        app.add_url_rule("/api/v1/users/<path:key>", view_func=self._get_user, methods=["GET"])
        app.add_url_rule("/oauth2/<server>/v1/token", view_func=self._token, methods=["POST"])
        app.add_url_rule("/oauth2/<server>/v1/userinfo", view_func=self._userinfo,
                         methods=["GET", "POST"])
        app.add_url_rule("/oauth2/<server>/v1/keys", view_func=self._keys, methods=["GET"])
        return app

    def _before(self) -> Response | None:
        self.requests.append({
            "method": request.method, "path": request.path, "headers": dict(request.headers),
            "raw_path": request.environ.get("RAW_URI", "").split("?")[0],  # before unquoting
            "json": request.get_json(silent=True), "form": request.form.to_dict(),
        })
        if self.rate_limited:
            response = okta_error("E0000047", 429)
            response.headers.update({"X-Rate-Limit-Limit": "600", "X-Rate-Limit-Remaining": "0",
                                     "X-Rate-Limit-Reset": str(int(time.time()) + 60)})
            return response
        return None

    def _find(self, key: str) -> User | None:
        key = key.lower()
        return next((u for u in self.users.values()
                     if key in (u.id.lower(), u.login.lower(), u.login.split("@")[0].lower())), None)

    # -- Authentication API ------------------------------------------------------------------
    def _authn(self) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return okta_error("E0000003", 400)
        missing = [k for k in ("username", "password") if not isinstance(body.get(k), str)]
        if missing:
            return okta_error("E0000001", 400, [f"{k}: The field cannot be left blank" for k in missing])
        options = body.get("options") or {}
        user = self._find(body["username"])
        if user is not None and user.status == "LOCKED_OUT":  # the org shows lockout failures
            return jsonify({"status": "LOCKED_OUT", "_links": {"unlock": {
                "href": f"{self.url}/api/v1/authn/recovery/unlock", "hints": {"allow": ["POST"]}}}})
        if (user is None or not hmac.compare_digest(user.password, body["password"])
                or user.status in ("SUSPENDED", "DEPROVISIONED", "STAGED")):
            return okta_error("E0000004", 401)
        if user.status == "PASSWORD_EXPIRED":
            return self._transaction_answer(user, "PASSWORD_EXPIRED", links={"next": {
                "name": "changePassword", "href": f"{self.url}/api/v1/authn/credentials/change_password",
                "hints": {"allow": ["POST"]}}})
        if user.must_enroll:
            return self._transaction_answer(user, "MFA_ENROLL", factors=[
                {"factorType": "token:software:totp", "provider": "OKTA", "status": "NOT_SETUP",
                 "_links": {"enroll": {"href": f"{self.url}/api/v1/authn/factors",
                                       "hints": {"allow": ["POST"]}}}}])
        if user.factors:
            return self._transaction_answer(
                user, "MFA_REQUIRED", factors=[f.public(self.url) for f in user.factors])
        if user.password_warn and options.get("warnBeforePasswordExpired") is True:
            return self._transaction_answer(user, "PASSWORD_WARN", links={"skip": {
                "name": "skip", "href": f"{self.url}/api/v1/authn/skip", "hints": {"allow": ["POST"]}}})
        return self._success(user)

    def _transaction_answer(self, user: User, status: str, *, factors: list | None = None,
                            links: dict | None = None) -> Response:
        token = "00" + secrets.token_urlsafe(30)
        with self._lock:
            self.transactions[token] = Transaction(user, status, time.time() + TRANSACTION_LIFETIME)
        embedded: dict[str, Any] = {"user": user.embedded()}
        if factors is not None:
            embedded["factors"] = factors
            embedded["policy"] = {"allowRememberDevice": False, "rememberDeviceLifetimeInMinutes": 0}
        return jsonify({
            "stateToken": token, "expiresAt": "2030-01-01T00:05:00.000Z", "status": status,
            "_embedded": embedded,
            "_links": {**(links or {}), "cancel": {"href": f"{self.url}/api/v1/authn/cancel",
                                                   "hints": {"allow": ["POST"]}}},
        })

    def _success(self, user: User) -> Response:
        return jsonify({"expiresAt": "2030-01-01T00:05:00.000Z", "status": "SUCCESS",
                        "sessionToken": "20111" + secrets.token_urlsafe(24),
                        "_embedded": {"user": user.embedded()}})

    def _verify(self, factor_id: str) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return okta_error("E0000003", 400)
        with self._lock:
            transaction = self.transactions.get(body.get("stateToken") or "")
            if transaction is None or transaction.expires < time.time():
                return okta_error("E0000011", 401)
        if transaction.status not in ("MFA_REQUIRED", "MFA_CHALLENGE"):
            return okta_error("E0000079", 403, ["This operation is not allowed in the current "
                                                "authentication state."])
        factor = next((f for f in transaction.user.factors if f.id == factor_id), None)
        if factor is None:
            return okta_error("E0000007", 404)
        code = body.get("passCode")
        if factor.factor_type == "token:software:totp":
            return self._check_totp(body["stateToken"], transaction, factor, code)
        if factor.factor_type in ("sms", "email"):
            if code is None:  # send a code, as Okta does when passCode is left out
                transaction.sent_code = f"{secrets.randbelow(1_000_000):06d}"
                transaction.status = "MFA_CHALLENGE"
                self.outbox[transaction.user.login] = transaction.sent_code
                return jsonify({"stateToken": body["stateToken"], "status": "MFA_CHALLENGE",
                                "factorResult": "CHALLENGE", "expiresAt": "2030-01-01T00:05:00.000Z",
                                "_embedded": {"user": transaction.user.embedded(),
                                              "factor": factor.public(self.url)},
                                "_links": {"next": {"name": "verify", "href": factor.public(
                                    self.url)["_links"]["verify"]["href"], "hints": {"allow": ["POST"]}}}})
            if transaction.sent_code and hmac.compare_digest(str(code), transaction.sent_code):
                return self._finish(body["stateToken"])
            return okta_error("E0000068", 403, ["Your passcode doesn't match our records. "
                                                "Please try again."])
        # push, webauthn...: a passcode proves nothing; the fake never approves them
        return okta_error("E0000068", 403, ["Your passcode doesn't match our records."])

    def _check_totp(self, token: str, transaction: Transaction, factor: Factor,
                    code: Any) -> Response:
        now = time.time()
        for drift in (-1, 0, 1):
            if isinstance(code, str) and hmac.compare_digest(code, totp(factor.secret, now, drift)):
                used = (factor.id, int(now // 30) + drift)
                with self._lock:
                    if used in self._used_codes:
                        return okta_error("E0000068", 403, [
                            "Each code can only be used once. Please wait for a new code and try again."])
                    self._used_codes.add(used)
                return self._finish(token)
        return okta_error("E0000068", 403, ["Your passcode doesn't match our records. "
                                            "Please try again."])

    def _finish(self, token: str) -> Response:
        with self._lock:
            transaction = self.transactions.pop(token)  # a finished transaction's token is dead
        return self._success(transaction.user)

    # -- Users API ---------------------------------------------------------------------------
    def _get_user(self, key: str) -> Response:
        if request.headers.get("Authorization") != f"SSWS {self.api_token}":
            return okta_error("E0000011", 401)
        user = self._find(key)
        if user is None:
            return okta_error("E0000007", 404, summary=f"Not found: Resource not found: {key} (User)")
        return jsonify(user.full())

    # -- a custom authorization server -------------------------------------------------------
    def _token(self, server: str) -> Response:
        if server not in self.authorization_servers:
            return okta_error("E0000007", 404,
                              summary=f"Not found: Resource not found: {server} (AuthorizationServer)")
        form = request.form
        auth = request.authorization
        client_id = auth.username if auth else form.get("client_id")
        secret = auth.password if auth else form.get("client_secret")
        if client_id != self.client_id or not hmac.compare_digest(secret or "", self.client_secret):
            return oauth_error(401, "invalid_client", "Client authentication failed. Either the "
                               "client or the client credentials are invalid.")
        if form.get("grant_type") != "password":
            return oauth_error(400, "unsupported_grant_type",
                               "The authorization grant type is not supported by the authorization server.")
        scopes = (form.get("scope") or "").split()
        if not scopes or set(scopes) - {"openid", "profile", "email", "offline_access"}:
            return oauth_error(400, "invalid_scope", "One or more scopes are not configured for the "
                               "authorization server resource.")
        user = self._find(form.get("username") or "")
        if (user is None or not hmac.compare_digest(user.password, form.get("password") or "")
                or user.status != "ACTIVE"):
            return oauth_error(400, "invalid_grant", "The credentials provided were invalid.")
        if user.factors or user.must_enroll:
            return oauth_error(400, "access_denied", "Policy evaluation failed for this request, "
                               "please check the policy configurations.")
        access_token = secrets.token_urlsafe(32)
        self.access_tokens[access_token] = user
        now = int(time.time())
        id_token = jwt.encode({"alg": "RS256", "kid": "fake-okta-1"}, {
            "sub": user.id, "ver": 1, "iss": f"{self.url}/oauth2/{server}", "aud": self.client_id,
            "iat": now, "exp": now + 3600, "jti": "ID." + secrets.token_urlsafe(16),
            "amr": ["pwd"], "idp": "00ofakeorg", "auth_time": now}, SIGNING_KEY)
        return jsonify({"token_type": "Bearer", "expires_in": 3600, "access_token": access_token,
                        "scope": " ".join(scopes), "id_token": id_token})

    def _userinfo(self, server: str) -> Response:
        header = request.headers.get("Authorization", "")
        user = self.access_tokens.get(header.removeprefix("Bearer "))
        if user is None:
            response = Response(status=401)
            response.headers["WWW-Authenticate"] = (
                'Bearer authorization_uri="http://fake/oauth2/v1/authorize", realm="http://fake", '
                'scope="openid", error="invalid_token", error_description="The access token is invalid."')
            return response
        return jsonify({"sub": user.id, "name": f"{user.first_name} {user.last_name}",
                        "locale": "en-US", "email": user.login, "preferred_username": user.login,
                        "given_name": user.first_name, "family_name": user.last_name,
                        "zoneinfo": "Europe/London", "updated_at": 1709283600, "email_verified": True})

    def _keys(self, server: str) -> Response:
        return jsonify({"keys": [SIGNING_KEY.as_dict(private=False)]})


def okta_error(code: str, status: int, causes: list[str] | None = None,
               summary: str | None = None) -> Response:
    """Okta's error body: errorCode, errorSummary, errorLink, errorId, errorCauses."""
    response = jsonify({
        "errorCode": code, "errorSummary": summary or ERROR_SUMMARIES[code], "errorLink": code,
        "errorId": "oae" + secrets.token_urlsafe(16),
        "errorCauses": [{"errorSummary": cause} for cause in causes or []],
    })
    response.status_code = status
    return response


def oauth_error(status: int, error: str, description: str) -> Response:
    response = jsonify({"error": error, "error_description": description})
    response.status_code = status
    return response
