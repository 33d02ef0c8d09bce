"""A hand-written legacy user API, as operators write them for the ``rest`` connector.

:class:`RestLegacyServer` is a small Flask app served by werkzeug on ``127.0.0.1`` (a free
port, in a thread) with a real user table and a real check of the caller's credentials. It
speaks both request shapes the connector understands:

* the Ferry contract under :attr:`ferry_url` (``POST /api/verify``, ``GET /api/users/<id>``);
* the Keycloak user-migration plug-in's shapes under :attr:`plugin_url`
  (``GET``/``POST /user-migration-support/<username>``), as its example legacy system does.

::

    with RestLegacyServer(bearer_token="t0ken") as legacy:
        legacy.ferry_url, legacy.plugin_url, legacy.accounts["alice"].password
        legacy.fault = "html"          # every answer is now a login page (see FAULTS)
        legacy.fault_on = "verify"     # ...only the password check misbehaves
        legacy.stop(); legacy.start()  # an outage, then the same port again

The caller must send ``Authorization: Bearer <bearer_token>`` (or HTTP Basic with ``basic``),
or gets the framework's own ``401`` ``{"message": "Unauthorized"}``. Identifiers match a
username or an e-mail address, case aside. :attr:`requests` records what arrived.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.serving import WSGIRequestHandler, make_server

__all__ = ["FAULTS", "LegacyAccount", "RestLegacyServer", "default_accounts"]

#: How the server can misbehave (``fault``), on every route or only on ``fault_on``.
FAULTS = ("html", "500", "hang", "redirect", "missing-subject", "claims-not-object",
          "extra-fields", "not-an-object", "someone-else")
HANG_LIMIT = 30.0


@dataclass
class LegacyAccount:
    id: str
    username: str
    email: str
    password: str
    first_name: str
    last_name: str
    status: str | None = None  # None (active), "locked", "disabled", "password_expired"...
    email_verified: bool = True
    attributes: dict[str, list[str]] = field(default_factory=dict)
    roles: list[str] = field(default_factory=list)
    totps: list[dict[str, Any]] | None = None  # TOTP seeds newer plug-in versions accept

    def claims(self) -> dict[str, Any]:
        return {"email": self.email, "email_verified": self.email_verified,
                "given_name": self.first_name, "family_name": self.last_name,
                "preferred_username": self.username, "roles": self.roles}

    def plugin_user(self, string_booleans: bool = False) -> dict[str, Any]:
        """The user JSON of the Keycloak user-migration plug-in's README."""
        def flag(value: bool) -> bool | str:
            return str(value).lower() if string_booleans else value
        user = {"id": self.id, "username": self.username, "email": self.email,
                "firstName": self.first_name, "lastName": self.last_name,
                "enabled": flag(self.status != "disabled"),
                "emailVerified": flag(self.email_verified), "attributes": self.attributes,
                "roles": self.roles, "groups": ["migrated_users"],
                "requiredActions": ["UPDATE_PROFILE"]}
        if not self.id:
            del user["id"]  # optional in the plug-in's contract
        if self.totps is not None:
            user["totps"] = self.totps
        return user


def default_accounts() -> dict[str, LegacyAccount]:
    return {a.username: a for a in (
        LegacyAccount("1001", "alice", "alice@example.com", "rabbit-hole-1865", "Alice", "Liddell",
                      attributes={"department": ["wonderland"]}, roles=["reader"]),
        LegacyAccount("1002", "bob", "bob@example.com", "can-we-fix-it-99", "Bob", "Builder"),
        LegacyAccount("1003", "carol", "carol@example.com", "locked-out-77", "Carol", "Locke",
                      status="locked"),
        LegacyAccount("1004", "dave", "dave@example.com", "dormant-dave-4", "Dave", "Dormant",
                      status="disabled"),
        LegacyAccount("1005", "erin", "erin@example.com", "expired-erin-5", "Erin", "Old",
                      status="password_expired"),
        LegacyAccount("1006", "frank", "Frank.Case@Example.com", "p@ss w/ spaces+%", "Frank", "Case"),
    )}


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass  # the requests are in RestLegacyServer.requests


@dataclass(frozen=True)
class Arrived:
    method: str
    path: str
    headers: dict[str, str]
    json: Any


class RestLegacyServer:
    def __init__(self, accounts: dict[str, LegacyAccount] | None = None, *,
                 bearer_token: str | None = None, basic: tuple[str, str] | None = None) -> None:
        self.accounts = accounts if accounts is not None else default_accounts()
        self.bearer_token = bearer_token
        self.basic = basic
        self.fault: str | None = None
        self.fault_on: str | None = None  # "verify" | "lookup" | None (every route)
        self.plugin_refusal = 400  # the plug-in's example system answers 400 to a wrong password
        self.plugin_string_booleans = False  # "enabled": "true", as in the plug-in's README
        self.requests: list[Arrived] = []
        self.released = threading.Event()
        self._lock = threading.Lock()
        self._server = None
        self._port = 0  # the first start picks a free port; a restart reuses it
        self._thread: threading.Thread | None = None
        self.app = self._build_app()

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> RestLegacyServer:
        self.released.clear()
        self._server = make_server("127.0.0.1", self._port, self.app, threaded=True,
                                   request_handler=_QuietHandler)
        self._port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.05}, name="rest-legacy")
        self._thread.start()
        return self

    def stop(self) -> None:
        self.released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def __enter__(self) -> RestLegacyServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def ferry_url(self) -> str:
        return self.base_url + "/api"

    @property
    def plugin_url(self) -> str:
        return self.base_url + "/user-migration-support"

    def calls(self, method: str | None = None) -> list[Arrived]:
        with self._lock:
            return [r for r in self.requests if method is None or r.method == method]

    # -- the app ----------------------------------------------------------------------------
    def find(self, identifier: str) -> LegacyAccount | None:
        wanted = identifier.casefold()
        for account in self.accounts.values():
            if wanted in (account.username.casefold(), account.email.casefold()):
                return account
        return None

    def _authorised(self) -> bool:
        given = request.headers.get("Authorization", "")
        if self.bearer_token is not None:
            return given == f"Bearer {self.bearer_token}"
        if self.basic is not None:
            expected = base64.b64encode(f"{self.basic[0]}:{self.basic[1]}".encode()).decode()
            return given == f"Basic {expected}"
        return True

    def _faulty(self, route: str) -> bool:
        return self.fault is not None and self.fault_on in (None, route)

    def _transport_fault(self, route: str) -> Response | None:
        """A broken server's answer, before any user is looked at (None: no such fault)."""
        if not self._faulty(route):
            return None
        if self.fault == "html":
            return Response("<html><body><form>Sign in</form></body></html>", 200,
                            content_type="text/html")
        if self.fault == "500":
            return Response("<h1>Internal Server Error</h1>", 500, content_type="text/html")
        if self.fault == "hang":
            self.released.wait(HANG_LIMIT)
            return Response("too late", 504)
        if self.fault == "redirect":
            return Response("", 302, headers={"Location": "/login"})
        return None

    def _answer(self, route: str, body: dict[str, Any]) -> Response:
        """A success body, reshaped by a configured fault."""
        if not self._faulty(route) or self.fault in ("html", "500", "hang", "redirect"):
            return jsonify(body)
        if self.fault == "not-an-object":
            return jsonify([body])
        if self.fault == "missing-subject":
            return jsonify({k: v for k, v in body.items() if k not in ("subject", "id", "username")})
        if self.fault == "claims-not-object":
            return jsonify({**body, "claims": ["email", "alice@example.com"]})
        if self.fault == "extra-fields":
            extra_claims = {"claims": {**body["claims"], "shoe_size": 38}} if "claims" in body else {}
            return jsonify({**body, "api_version": 3, "links": {"self": "/users/1"}, **extra_claims})
        if self.fault == "someone-else":
            other = self.accounts["bob"]
            return jsonify(other.plugin_user() if "username" in body else
                           {"subject": other.id, "claims": other.claims()})
        raise ValueError(f"unknown fault {self.fault!r}")

    def _build_app(self) -> Flask:
        app = Flask("rest_legacy")
        server = self

        @app.before_request
        def record_and_check() -> Response | tuple | None:
            with server._lock:
                server.requests.append(Arrived(request.method, request.path,
                                               dict(request.headers), request.get_json(silent=True)))
            if not server._authorised():
                return jsonify(message="Unauthorized"), 401, {"WWW-Authenticate": 'Bearer realm="api"'}
            return None

        # -- the Ferry contract ------------------------------------------------------------
        @app.post("/api/verify")
        def verify():
            broken = server._transport_fault("verify")
            if broken is not None:
                return broken
            data = request.get_json(silent=True) or {}
            identifier, password = data.get("identifier"), data.get("password")
            if not isinstance(identifier, str) or not isinstance(password, str):
                return jsonify(error="bad_request"), 400
            account = server.find(identifier)
            if account is None:
                return jsonify(error="not_found"), 404
            if account.status == "locked":  # locked for too many attempts: no password check
                return jsonify(error="locked"), 423
            if password != account.password:
                return jsonify(error="invalid_credentials"), 401
            if account.status:
                return jsonify(error=account.status), 423
            return server._answer("verify", {"subject": account.id, "claims": account.claims()})

        @app.get("/api/users/<path:identifier>")
        def user(identifier: str):
            broken = server._transport_fault("lookup")
            if broken is not None:
                return broken
            account = server.find(identifier)
            if account is None:
                return jsonify(error="not_found"), 404
            if account.status in ("locked", "disabled"):
                return jsonify(error=account.status), 423
            return server._answer("lookup", {"subject": account.id, "claims": account.claims()})

        # -- the Keycloak user-migration plug-in's shapes -----------------------------------
        @app.get("/user-migration-support/<path:username>")
        def plugin_user(username: str):
            broken = server._transport_fault("lookup")
            if broken is not None:
                return broken
            account = server.find(username)
            if account is None:
                return "", 404
            return server._answer("lookup", account.plugin_user(server.plugin_string_booleans))

        @app.post("/user-migration-support/<path:username>")
        def plugin_password(username: str):
            broken = server._transport_fault("verify")
            if broken is not None:
                return broken
            account = server.find(username) or next(
                (a for a in server.accounts.values() if a.id == username), None)
            if account is None:
                return "", 404
            password = (request.get_json(silent=True) or {}).get("password")
            return ("", 200) if password == account.password else ("", server.plugin_refusal)

        return app
