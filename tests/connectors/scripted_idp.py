"""A scripted legacy IDP: a real HTTP server on loopback whose answers each test chooses.

Connector tests need the legacy side to misbehave in ways no real IDP does on demand: hang,
answer HTML, 5xx, 429, broken JSON, tokens without an ``access_token``, garbage ID tokens.
:class:`ScriptedIdp` is a stdlib ``ThreadingHTTPServer`` on ``127.0.0.1`` (a free port) that
answers each path with the :class:`Reply` a test put in :attr:`ScriptedIdp.routes`, and records
every request it receives, so a test can also count calls or read what a connector sent::

    with ScriptedIdp() as idp:
        idp.routes["/token"] = Reply(502, "<h1>Bad gateway</h1>", "text/html")
        idp.routes["/userinfo"] = Reply(200, {"sub": "42"})
        ...
        assert len(idp.calls("/token")) == 1

A route may also be a function of the :class:`Recorded` request returning a :class:`Reply`;
:meth:`ScriptedIdp.forward_to` builds one that relays to a real server (counting its calls).
A TLS ClientHello sent to this plain-HTTP server gets a plain-HTTP 400 at once, as a real
web server would answer, so an ``https://`` URL aimed at it fails fast and deterministically.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

#: Longest a hanging reply holds its request; closing the server releases it sooner.
HANG_LIMIT = 30.0
#: ``Recorded.method`` of a TLS handshake that reached the plain-HTTP server.
TLS_HANDSHAKE = "TLS-HANDSHAKE"


@dataclass(frozen=True)
class Reply:
    """One scripted answer. A dict or list ``body`` is sent as JSON, str or bytes as they are."""

    status: int = 200
    body: Any = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # take the request and never answer (until the server closes)

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass(frozen=True)
class Recorded:
    """A request as the scripted IDP received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


Route = Reply | Callable[[Recorded], Reply]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def handle(self) -> None:
        try:
            first = self.connection.recv(1, socket.MSG_PEEK)
        except OSError:
            return
        if first == b"\x16":  # a TLS record: someone spoke https to this http server
            self.server.idp.record(Recorded(TLS_HANDSHAKE, "", {}, b""))
            self.connection.sendall(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        super().handle()

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = Recorded(
            self.command, urlsplit(self.path).path, dict(self.headers.items()),
            self.rfile.read(length),
        )
        self.server.idp.record(request)
        route = self.server.idp.routes.get(request.path)
        if route is None:
            reply = Reply(404, {"error": "not_found"})
        else:
            reply = route(request) if callable(route) else route
        if reply.hang:
            self.server.idp.released.wait(HANG_LIMIT)
            self.close_connection = True
            return
        body = reply.encoded()
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean; the requests are in ScriptedIdp.requests


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    idp: ScriptedIdp

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (read timeout) leaves a broken pipe behind: expected here.
        pass


class ScriptedIdp:
    """The server; use as a context manager, or :meth:`start` and :meth:`close`."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Recorded] = []
        self.released = threading.Event()
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ScriptedIdp:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.idp = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name="scripted-idp", daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self.released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def __enter__(self) -> ScriptedIdp:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)

    def calls(self, path: str) -> list[Recorded]:
        """Requests received for ``path``; ``TLS_HANDSHAKE`` counts handshakes instead."""
        with self._lock:
            if path == TLS_HANDSHAKE:
                return [r for r in self.requests if r.method == TLS_HANDSHAKE]
            return [r for r in self.requests if r.path == path and r.method != TLS_HANDSHAKE]

    @staticmethod
    def forward_to(url: str) -> Callable[[Recorded], Reply]:
        """A route that relays the request to ``url`` (a real server) and returns its answer."""

        def relay(request: Recorded) -> Reply:
            headers = {k: v for k, v in request.headers.items()
                       if k.lower() in ("authorization", "content-type", "accept")}
            outbound = urllib.request.Request(
                url, data=request.body if request.method == "POST" else None,
                headers=headers, method=request.method,
            )
            try:
                with urllib.request.urlopen(outbound, timeout=10) as answer:
                    return Reply(answer.status, answer.read(),
                                 answer.headers.get("Content-Type", "application/json"))
            except urllib.error.HTTPError as error:
                with error:
                    return Reply(error.code, error.read(),
                                 error.headers.get("Content-Type", "application/json"))

        return relay


def closed_port_url(path: str = "/token") -> str:
    """A loopback URL nobody listens on: connections to it are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
