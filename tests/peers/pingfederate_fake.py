"""A faithful fake of the PingFederate runtime endpoints Ferry speaks to, on loopback.

PingFederate is licensed software that cannot run here, so this Flask app (in a thread, real
sockets) follows its documented requests and answers:

* ``POST /as/token.oauth2`` (PingFederate's token endpoint): ``grant_type=password`` (the
  Resource Owner Password Credentials grant, checked against the users below as a Password
  Credential Validator would) and ``grant_type=authorization_code`` (with PKCE S256); client
  authentication by HTTP Basic or ``client_id``/``client_secret`` in the form. Answers are
  RFC 6749 section 5 JSON: ``access_token``, ``token_type`` ``Bearer``, ``expires_in`` and an
  RS256 ``id_token`` when ``openid`` is in scope; errors ``invalid_grant`` (with the
  descriptions below), ``invalid_client`` (401, with ``WWW-Authenticate`` for Basic),
  ``unauthorized_client`` (a grant the client is not allowed), ``invalid_scope``,
  ``unsupported_grant_type``, ``invalid_request``;
* ``GET /idp/userinfo.openid`` (the OpenID Connect userinfo endpoint) with the bearer token;
  ``401`` with ``WWW-Authenticate: Bearer error="invalid_token"`` otherwise;
* ``GET /pf/JWKS`` (the signing keys) and ``GET /.well-known/openid-configuration``;
* ``GET /as/authorization.oauth2``: the authorization endpoint, which signs in
  :attr:`PingFederateFake.browser_user` at once (the HTML login page is PingFederate's, not
  Ferry's concern) and redirects back with ``code`` and ``state``.

The ``error_description`` texts depend on the PCV and the version and are not listed in
PingFederate's documentation: those used here (:data:`DESCRIPTIONS`) are the ones Ferry's
connector docstring names, and tests may change them.

Knobs: :attr:`PingFederateFake.misbehaviour` (``429``, ``503``, ``html``, ``error-in-200``,
``no-access-token``, ``userinfo-no-sub``, ``userinfo-other-sub``, ``bad-id-token``),
:meth:`stopped` (an outage on the same port), :attr:`requests` (method, path, form keys).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.peers.loopback import LoopbackServer

SIGNING_KEY = RSAKey.generate_key(2048, parameters={"kid": "pf-signing-1", "use": "sig"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "pf-signing-1", "use": "sig"})
#: ``invalid_grant`` descriptions by the state of the account (see the module docstring).
DESCRIPTIONS = {
    "wrong": "Invalid username or password",
    "unknown": "Authentication failed",
    "locked": "Account is locked",
    "expired": "Password expired",
    "disabled": "Account is disabled",
    "must_change": "User must change password",
}


@dataclass
class PfUser:
    """A user of the fake's Password Credential Validator."""

    username: str
    password: str
    sub: str
    given_name: str
    family_name: str
    state: str = "active"  # active, locked, expired, disabled, must_change

    def claims(self) -> dict[str, Any]:
        return {"sub": self.sub, "email": self.username, "given_name": self.given_name,
                "family_name": self.family_name, "name": f"{self.given_name} {self.family_name}"}


class PingFederateFake(LoopbackServer):
    """PingFederate's token, userinfo, JWKS, discovery and authorization endpoints."""

    thread_name = "pingfederate-fake"

    def __init__(self, client_id: str = "ferry", client_secret: str | None = None,
                 grants: tuple[str, ...] = ("password", "authorization_code")) -> None:
        self._init_loopback()
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.grants = grants
        self.users = {u.username: u for u in (
            PfUser("alice@example.com", "wonderland-1865", "alice", "Alice", "Liddell"),
            PfUser("bob@example.com", "builder-1999", "bob", "Bob", "Builder"),
            PfUser("lorina@example.com", "locked-door-1852", "lorina", "Lorina", "Liddell",
                   "locked"),
            PfUser("edith@example.com", "expired-tea-1854", "edith", "Edith", "Liddell",
                   "expired"),
            PfUser("gryphon@example.com", "mock-turtle-1865", "gryphon", "Gryphon", "Mock",
                   "disabled"),
            PfUser("dodo@example.com", "caucus-race-1865", "dodo", "Dodo", "Bird",
                   "must_change"),
        )}
        self.descriptions = dict(DESCRIPTIONS)
        self.misbehaviour: str | None = None
        self.browser_user = "alice@example.com"
        self.requests: list[tuple[str, str, tuple[str, ...]]] = []
        self._tokens: dict[str, PfUser] = {}
        self._codes: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.app = self._build()

    @property
    def url(self) -> str:
        return self.base_url

    def password(self, username: str) -> str:
        return self.users[username].password

    # -- the app ------------------------------------------------------------------------------
    def _build(self) -> Flask:
        app = Flask("pingfederate-fake")

        @app.before_request
        def record() -> Response | None:
            self.requests.append((request.method, request.path, tuple(sorted(request.form))))
            if self.misbehaviour == "429":
                return Response("Too Many Requests", 429, {"Retry-After": "1"})
            if self.misbehaviour == "503":
                return Response("<html>Service Unavailable</html>", 503,
                                {"Content-Type": "text/html"})
            if self.misbehaviour == "html" and request.path != "/pf/JWKS":
                return Response("<html><body>Maintenance</body></html>", 200,
                                {"Content-Type": "text/html"})
            return None

        app.add_url_rule("/as/token.oauth2", "token", self._token, methods=["POST"])
        app.add_url_rule("/idp/userinfo.openid", "userinfo", self._userinfo, methods=["GET", "POST"])
        app.add_url_rule("/pf/JWKS", "jwks", lambda: jsonify(
            {"keys": [SIGNING_KEY.as_dict(private=False)]}))
        app.add_url_rule("/.well-known/openid-configuration", "discovery", self._discovery)
        app.add_url_rule("/as/authorization.oauth2", "authorize", self._authorize)
        return app

    def _discovery(self) -> Response:
        base = self.base_url
        return jsonify({
            "issuer": base, "authorization_endpoint": f"{base}/as/authorization.oauth2",
            "token_endpoint": f"{base}/as/token.oauth2", "jwks_uri": f"{base}/pf/JWKS",
            "userinfo_endpoint": f"{base}/idp/userinfo.openid",
            "revocation_endpoint": f"{base}/as/revoke_token.oauth2",
            "response_types_supported": ["code", "token", "id_token", "code id_token"],
            "grant_types_supported": ["authorization_code", "password", "client_credentials",
                                      "refresh_token"],
            "scopes_supported": ["openid", "email", "profile", "address", "phone"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post",
                                                      "private_key_jwt"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256", "PS256"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "subject_types_supported": ["public", "pairwise"],
        })

    @staticmethod
    def _error(status: int, error: str, description: str, **headers: str) -> Response:
        answer = jsonify({"error": error, "error_description": description})
        answer.status_code = status
        answer.headers.update(headers)
        return answer

    def _client(self) -> str | None:
        """The client id authenticated by Basic or by the form, or None."""
        if request.authorization and request.authorization.type == "basic":
            given = (request.authorization.username, request.authorization.password)
        else:
            given = (request.form.get("client_id"), request.form.get("client_secret"))
        if given == (self.client_id, self.client_secret):
            return self.client_id
        return None

    def _token(self) -> Response:
        if self._client() is None:
            challenge = {"WWW-Authenticate": 'Basic realm="PingFederate"'} \
                if request.authorization else {}
            return self._error(401, "invalid_client", "Invalid client or client credentials",
                               **challenge)
        grant = request.form.get("grant_type")
        if grant not in ("password", "authorization_code", "client_credentials", "refresh_token"):
            return self._error(400, "unsupported_grant_type", f"Unsupported grant type: {grant}")
        if grant not in self.grants:
            return self._error(400, "unauthorized_client",
                               f"grant_type '{grant}' is not allowed for client '{self.client_id}'")
        if grant == "authorization_code":
            return self._exchange_code()
        if grant != "password":
            return self._error(400, "unauthorized_client", "not supported by this fake")
        scopes = request.form.get("scope", "").split()
        if set(scopes) - {"openid", "email", "profile", "address", "phone"}:
            return self._error(400, "invalid_scope", "The requested scope(s) must be blank or a "
                               "subset of the provided scopes.")
        username, password = request.form.get("username"), request.form.get("password")
        if not username or password is None:
            return self._error(400, "invalid_request", "Missing username or password")
        user = self.users.get(username)
        if user is None:
            return self._error(400, "invalid_grant", self.descriptions["unknown"])
        if user.password != password:
            return self._error(400, "invalid_grant", self.descriptions["wrong"])
        if user.state != "active":
            return self._error(400, "invalid_grant", self.descriptions[user.state])
        return self._tokens_for(user, scopes)

    def _tokens_for(self, user: PfUser, scopes: list[str], nonce: str | None = None) -> Response:
        if self.misbehaviour == "error-in-200":
            return jsonify({"error": "server_error", "error_description": "Unexpected error"})
        access = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[access] = user
        answer: dict[str, Any] = {"access_token": access, "token_type": "Bearer",
                                  "expires_in": 7199}
        if self.misbehaviour == "no-access-token":
            answer.pop("access_token")
        if "openid" in scopes:
            now = int(time.time())
            claims = {"iss": self.base_url, "aud": self.client_id, "sub": user.sub, "iat": now,
                      "exp": now + 300, "email": user.username}
            if nonce:
                claims["nonce"] = nonce
            claims["at_hash"] = _half_hash(access)
            key = OTHER_KEY if self.misbehaviour == "bad-id-token" else SIGNING_KEY
            answer["id_token"] = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
        return jsonify(answer)

    def _userinfo(self) -> Response:
        header = request.headers.get("Authorization", "")
        user = self._tokens.get(header.removeprefix("Bearer ").strip()) \
            if header.startswith("Bearer ") else None
        if user is None:
            return Response("", 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        claims = user.claims()
        if self.misbehaviour == "userinfo-no-sub":
            claims.pop("sub")
        if self.misbehaviour == "userinfo-other-sub":
            claims["sub"] = "someone-else"
        return jsonify(claims)

    # -- the redirect flow --------------------------------------------------------------------
    def _authorize(self) -> Response:
        args = request.args
        if args.get("client_id") != self.client_id or args.get("response_type") != "code":
            return Response("unknown client or response type", 400)
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = {"user": self.users[self.browser_user],
                                 "redirect_uri": args.get("redirect_uri"),
                                 "challenge": args.get("code_challenge"),
                                 "nonce": args.get("nonce"),
                                 "scopes": args.get("scope", "").split()}
        back = {"code": code, "state": args.get("state", "")}
        return redirect(f"{args.get('redirect_uri')}?{urlencode(back)}")

    def _exchange_code(self) -> Response:
        with self._lock:
            grant = self._codes.pop(request.form.get("code", ""), None)
        if grant is None or grant["redirect_uri"] != request.form.get("redirect_uri"):
            return self._error(400, "invalid_grant", "Authorization code is invalid or expired.")
        verifier = request.form.get("code_verifier", "")
        if grant["challenge"] != _s256(verifier):
            return self._error(400, "invalid_grant", "PKCE verification failed")
        return self._tokens_for(grant["user"], grant["scopes"], grant["nonce"])


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _half_hash(token: str) -> str:
    digest = hashlib.sha256(token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
