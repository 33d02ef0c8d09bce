"""A faithful fake of the PingOne authentication endpoints Ferry's ``pingone`` connector speaks.

PingOne is SaaS and cannot run here, so this Flask app (in a thread, real sockets) follows the
documented requests and answers of one environment (``/{envId}`` below):

* ``GET /{envId}/as/authorize`` with ``response_mode=pi.flow``: the flow as JSON (``id``,
  ``status`` ``USERNAME_PASSWORD_REQUIRED``, ``_links``) and a session cookie ``ST``; with the
  ``ST`` cookie of a signed-in session (and no ``prompt=login``) the flow is ``COMPLETED`` at
  once for that session's user, as PingOne's single sign-on does;
* ``POST /{envId}/flows/{flowId}`` with ``Content-Type:
  application/vnd.pingidentity.usernamePassword.check+json``: statuses ``COMPLETED`` (with
  ``authorizeResponse.code`` in pi.flow mode), ``PASSWORD_EXPIRED``, ``MUST_CHANGE_PASSWORD``,
  ``OTP_REQUIRED``; ``400 INVALID_DATA`` with ``details`` ``INVALID_VALUE`` "Invalid username
  and/or password." (also for an unknown user); another media type is ``415``; a flow without
  its cookie, or an unknown one, is ``404 NOT_FOUND``;
* ``GET /{envId}/as/resume?flowId=``: ``authorizeResponse`` JSON (pi.flow);
* ``POST /{envId}/as/token`` (``authorization_code`` with PKCE S256, client secret basic or
  post), ``GET /{envId}/as/userinfo``, ``GET /{envId}/as/jwks``.

The error body follows PingOne's "Error codes" page: ``id``, ``code``, ``message``, ``details``.
How a locked password shows in a flow is not documented: :data:`LOCKED_DETAIL` is a guess.

Knobs: :attr:`PingOneFake.misbehaviour` (``429``, ``503``, ``html``, ``error-in-200``,
``no-status``, ``weird-status``, ``code-only-on-resume``, ``no-code``, ``token-refused``,
``bad-id-token``, ``userinfo-other-sub``, ``not-login-policy``), :meth:`stopped`,
:attr:`requests` (method, path, content type, cookie names).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, jsonify, request
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.peers.loopback import LoopbackServer

SIGNING_KEY = RSAKey.generate_key(2048, parameters={"kid": "p1-signing-1", "use": "sig"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "p1-signing-1", "use": "sig"})
CHECK_PASSWORD = "application/vnd.pingidentity.usernamePassword.check+json"
WRONG_DETAIL = {"code": "INVALID_VALUE", "target": "password",
                "message": "Invalid username and/or password.",
                "innerError": {"failuresRemaining": 4}}
LOCKED_DETAIL = {"code": "PASSWORD_LOCKED_OUT", "target": "password",
                 "message": "The password is locked. Please try again later.",
                 "innerError": {"secondsUntilUnlock": 900}}
STATUS_BY_STATE = {"expired": "PASSWORD_EXPIRED", "must_change": "MUST_CHANGE_PASSWORD",
                   "mfa": "OTP_REQUIRED"}


@dataclass
class P1User:
    username: str
    password: str
    given_name: str
    state: str = "active"  # active, locked, expired, must_change, mfa
    id: str = ""

    def __post_init__(self) -> None:
        self.id = self.id or str(uuid.uuid4())


class PingOneFake(LoopbackServer):
    """One PingOne environment's authorize, flow, resume, token, userinfo and JWKS endpoints."""

    thread_name = "pingone-fake"

    def __init__(self) -> None:
        self._init_loopback()
        self.environment_id = str(uuid.uuid4())
        self.client_id = str(uuid.uuid4())
        self.client_secret = secrets.token_urlsafe(24)
        self.redirect_uri = "https://ferry.example.com/pingone/unused"
        self.users = {u.username: u for u in (
            P1User("alice@example.com", "wonderland-1865", "Alice"),
            P1User("bob@example.com", "builder-1999", "Bob"),
            P1User("lorina@example.com", "locked-door-1852", "Lorina", "locked"),
            P1User("edith@example.com", "expired-tea-1854", "Edith", "expired"),
            P1User("dodo@example.com", "caucus-race-1865", "Dodo", "must_change"),
            P1User("hatter@example.com", "tea-party-1865", "Hatter", "mfa"),
        )}
        self.misbehaviour: str | None = None
        self.requests: list[tuple[str, str, str, tuple[str, ...]]] = []
        self._flows: dict[str, dict[str, Any]] = {}
        self._sessions: dict[str, P1User] = {}  # ST cookie -> signed-in user
        self._codes: dict[str, dict[str, Any]] = {}
        self._tokens: dict[str, P1User] = {}
        self._lock = threading.Lock()
        self.app = self._build()

    @property
    def auth_url(self) -> str:
        return self.base_url

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/{self.environment_id}/as"

    # -- the app ------------------------------------------------------------------------------
    def _build(self) -> Flask:
        app = Flask("pingone-fake")
        env = f"/{self.environment_id}"

        @app.before_request
        def record() -> Response | None:
            self.requests.append((request.method, request.path.removeprefix(env),
                                  request.content_type or "", tuple(sorted(request.cookies))))
            if self.misbehaviour == "429":
                return Response('{"code":"REQUEST_LIMITED"}', 429, {"Retry-After": "1"})
            if self.misbehaviour == "503":
                return Response("<html>Service Unavailable</html>", 503)
            if self.misbehaviour == "html":
                return Response("<html>Sign on</html>", 200, {"Content-Type": "text/html"})
            return None

        app.add_url_rule(f"{env}/as/authorize", "authorize", self._authorize, methods=["GET", "POST"])
        app.add_url_rule(f"{env}/flows/<flow_id>", "flow", self._flow, methods=["POST"])
        app.add_url_rule(f"{env}/as/resume", "resume", self._resume)
        app.add_url_rule(f"{env}/as/token", "token", self._token, methods=["POST"])
        app.add_url_rule(f"{env}/as/userinfo", "userinfo", self._userinfo)
        app.add_url_rule(f"{env}/as/jwks", "jwks",
                         lambda: jsonify({"keys": [SIGNING_KEY.as_dict(private=False)]}))
        return app

    @staticmethod
    def _error(status: int, code: str, message: str, details: list | None = None) -> Response:
        body: dict[str, Any] = {"id": str(uuid.uuid4()), "code": code, "message": message}
        if details:
            body["details"] = details
        answer = jsonify(body)
        answer.status_code = status
        return answer

    def _authorize(self) -> Response:
        args = request.values
        if args.get("client_id") != self.client_id or args.get("redirect_uri") != self.redirect_uri:
            return self._error(400, "INVALID_DATA", "The request could not be completed.", [
                {"code": "INVALID_VALUE", "target": "redirect_uri",
                 "message": "Redirect URI mismatch"}])
        flow_id = secrets.token_hex(18)
        cookie = request.cookies.get("ST") or secrets.token_hex(18)
        flow = {"id": flow_id, "cookie": cookie, "nonce": args.get("nonce"),
                "state": args.get("state"), "challenge": args.get("code_challenge"),
                "scopes": args.get("scope", "").split(), "user": None}
        user = self._sessions.get(request.cookies.get("ST", ""))
        status = "USERNAME_PASSWORD_REQUIRED"
        if user is not None and args.get("prompt") != "login":
            flow["user"], status = user, "COMPLETED"
        if self.misbehaviour == "not-login-policy":
            status = "SIGN_ON_REQUIRED"
        with self._lock:
            self._flows[flow_id] = flow
        answer = jsonify(self._flow_body(flow, status))
        answer.set_cookie("ST", cookie, path=f"/{self.environment_id}", httponly=True)
        return answer

    def _flow_body(self, flow: dict[str, Any], status: str) -> dict[str, Any]:
        base = f"{self.base_url}/{self.environment_id}"
        body: dict[str, Any] = {
            "id": flow["id"], "status": status, "resumeUrl": f"{base}/as/resume?flowId={flow['id']}",
            "_links": {"self": {"href": f"{base}/flows/{flow['id']}"}},
            "createdAt": "2024-05-01T09:00:00.000Z", "expiresAt": "2024-05-01T09:15:00.000Z"}
        if status == "USERNAME_PASSWORD_REQUIRED":
            body["_links"]["usernamePassword.check"] = {"href": f"{base}/flows/{flow['id']}"}
        if status == "COMPLETED" and self.misbehaviour not in ("code-only-on-resume", "no-code"):
            body["authorizeResponse"] = self._issue_code(flow)
        if self.misbehaviour == "no-status":
            body.pop("status")
        if self.misbehaviour == "weird-status" and status != "USERNAME_PASSWORD_REQUIRED":
            body["status"] = "SOMETHING_NEW"
        return body

    def _issue_code(self, flow: dict[str, Any]) -> dict[str, Any]:
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = flow
            self._sessions[flow["cookie"]] = flow["user"]
        return {"code": code, "state": flow["state"]}

    def _flow(self, flow_id: str) -> Response:
        flow = self._flows.get(flow_id)
        if flow is None or request.cookies.get("ST") != flow["cookie"]:
            return self._error(404, "NOT_FOUND", "Unable to find flow")
        if request.content_type != CHECK_PASSWORD:
            return self._error(415, "INVALID_REQUEST", "Unsupported media type")
        body = request.get_json(silent=True) or {}
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            return self._error(400, "INVALID_DATA", "One or more validation errors were in the "
                               "request.", [{"code": "REQUIRED_VALUE", "target": "username",
                                             "message": "username is required"}])
        user = self.users.get(username)
        if user is not None and user.state == "locked":
            return self._error(400, "INVALID_DATA", "One or more validation errors were in the "
                               "request.", [LOCKED_DETAIL])
        if user is None or user.password != password:
            return self._error(400, "INVALID_DATA", "The request could not be completed. One or "
                               "more validation errors were in the request.", [WRONG_DETAIL])
        if self.misbehaviour == "error-in-200":
            return jsonify({"id": flow_id, "status": "USERNAME_PASSWORD_REQUIRED",
                            "error": {"code": "INVALID_CREDENTIALS",
                                      "message": "Invalid username and/or password."}})
        flow["user"] = user
        return jsonify(self._flow_body(flow, STATUS_BY_STATE.get(user.state, "COMPLETED")))

    def _resume(self) -> Response:
        flow = self._flows.get(request.args.get("flowId", ""))
        if flow is None or flow["user"] is None or request.cookies.get("ST") != flow["cookie"]:
            return self._error(404, "NOT_FOUND", "Unable to find flow")
        answer = {"id": flow["id"], "status": "COMPLETED"}
        if self.misbehaviour != "no-code":
            answer["authorizeResponse"] = self._issue_code(flow)
        return jsonify(answer)

    def _token(self) -> Response:
        auth = request.authorization
        given = (auth.username, auth.password) if auth else (
            request.form.get("client_id"), request.form.get("client_secret"))
        if given != (self.client_id, self.client_secret):
            return Response('{"error":"invalid_client","error_description":"Request denied: '
                            'Unsupported authentication method"}', 401,
                            {"Content-Type": "application/json"})
        with self._lock:
            flow = self._codes.pop(request.form.get("code", ""), None)
        verifier = request.form.get("code_verifier", "")
        if flow is None or self.misbehaviour == "token-refused" or flow["challenge"] != _s256(
                verifier) or request.form.get("redirect_uri") != self.redirect_uri:
            return Response('{"error":"invalid_grant","error_description":"Authorization code '
                            'is invalid or expired."}', 400, {"Content-Type": "application/json"})
        user: P1User = flow["user"]
        access = secrets.token_urlsafe(24)
        self._tokens[access] = user
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "sub": user.id, "iat": now,
                  "exp": now + 3600, "nonce": flow["nonce"], "auth_time": now,
                  "env": self.environment_id, "org": "org-1", "sid": flow["cookie"][:8]}
        key = OTHER_KEY if self.misbehaviour == "bad-id-token" else SIGNING_KEY
        return jsonify({"access_token": access, "token_type": "Bearer", "expires_in": 3600,
                        "scope": " ".join(flow["scopes"]),
                        "id_token": jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)})

    def _userinfo(self) -> Response:
        header = request.headers.get("Authorization", "")
        user = self._tokens.get(header.removeprefix("Bearer "))
        if user is None:
            return Response("", 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        sub = "someone-else" if self.misbehaviour == "userinfo-other-sub" else user.id
        return jsonify({"sub": sub, "email": user.username, "given_name": user.given_name,
                        "family_name": "Liddell", "preferred_username": user.username,
                        "env": self.environment_id})


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
