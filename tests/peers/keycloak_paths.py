"""Keycloak's URL layout in front of a real password-grant server: a reverse proxy on loopback.

Keycloak serves a realm's OpenID Connect endpoints under
``{base}/realms/{realm}/protocol/openid-connect/``; the Django OAuth Toolkit peer
(:mod:`tests.peers.password_grant`) serves them under ``/o/``. :class:`KeycloakPaths` is a
stdlib HTTP server on ``127.0.0.1`` that maps one layout onto the other and relays everything
else unchanged (method, body, headers, status, answer), as a reverse proxy would::

    with KeycloakPaths(dot.base_url, realm="acme", prefix="/auth") as keycloak:
        keycloak.base_url   # http://127.0.0.1:PORT/auth
        # POST {base_url}/realms/acme/protocol/openid-connect/token    -> DOT /o/token/
        # GET  {base_url}/realms/acme/protocol/openid-connect/userinfo -> DOT /o/userinfo/
        # GET  {base_url}/realms/acme/protocol/openid-connect/certs    -> DOT /o/.well-known/jwks.json

* Another realm gets Keycloak's own answer, ``404 {"error": "Realm does not exist"}``; any
  other path a plain 404.
* While the upstream server is down, the proxy answers ``502`` with an HTML page, like nginx.
* :meth:`stop` and :meth:`start` take the proxy itself down and up again on the same port.
* :attr:`requests` records ``(method, path)`` of every request received.
"""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, urlsplit

__all__ = ["KeycloakPaths"]

OIDC_PATHS = {
    "token": "/o/token/",
    "userinfo": "/o/userinfo/",
    "certs": "/o/.well-known/jwks.json",
}
#: Headers that belong to one connection, never relayed (RFC 9110 section 7.6.1).
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
              "transfer-encoding", "upgrade", "content-length"}
BAD_GATEWAY = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"


class _Handler(BaseHTTPRequestHandler):
    server: _Server  # HTTP/1.0: one request per connection, so stop() really ends service

    def do_GET(self) -> None:
        self._relay()

    def do_POST(self) -> None:
        self._relay()

    def _relay(self) -> None:
        proxy = self.server.proxy
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path, _, query = self.path.partition("?")
        proxy.record(self.command, path)
        target = proxy.upstream_path(path)
        if target is None:
            realm_error = proxy.is_other_realm(path)
            payload = {"error": "Realm does not exist", "error_description": "Realm does not exist"}
            self._answer(404, json.dumps(payload).encode() if realm_error else b"Not Found",
                         [("Content-Type", "application/json" if realm_error else "text/plain")])
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=10)
        try:
            upstream.request(self.command, target + (f"?{query}" if query else ""), body=body,
                             headers=headers)
            answer = upstream.getresponse()
            status, payload = answer.status, answer.read()
            relayed = [(k, v) for k, v in answer.getheaders() if k.lower() not in HOP_BY_HOP]
        except OSError:
            status, payload, relayed = 502, BAD_GATEWAY, [("Content-Type", "text/html")]
        finally:
            upstream.close()
        self._answer(status, payload, relayed)

    def _answer(self, status: int, payload: bytes, headers: list[tuple[str, str]]) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    proxy: KeycloakPaths


class KeycloakPaths:
    """The proxy; use as a context manager, or :meth:`start` and :meth:`stop`."""

    def __init__(self, upstream_base_url: str, realm: str = "acme", prefix: str = "") -> None:
        upstream = urlsplit(upstream_base_url)
        self.upstream_host, self.upstream_port = upstream.hostname, upstream.port
        self.realm = realm
        self.prefix = prefix.rstrip("/")
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._port = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> KeycloakPaths:
        self._server = _Server(("127.0.0.1", self._port), _Handler)
        self._server.proxy = self
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name="keycloak-paths")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def __enter__(self) -> KeycloakPaths:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # -- addresses ------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """What the ``keycloak`` connector's ``base_url`` is set to."""
        return f"http://127.0.0.1:{self._port}{self.prefix}"

    @property
    def realm_url(self) -> str:
        return f"{self.base_url}/realms/{quote(self.realm, safe='')}"

    def upstream_path(self, path: str) -> str | None:
        head = f"{self.prefix}/realms/{quote(self.realm, safe='')}/protocol/openid-connect/"
        if not path.startswith(head):
            return None
        return OIDC_PATHS.get(path[len(head):])

    def is_other_realm(self, path: str) -> bool:
        head = f"{self.prefix}/realms/"
        realm = path[len(head):].partition("/")[0] if path.startswith(head) else None
        return realm is not None and realm != quote(self.realm, safe="")

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))
