"""A legacy IdP that misbehaves on purpose: trickles, hangs, stalls connects, answers garbage.

:class:`BadLegacy` is a small HTTP server of its own on 127.0.0.1 (raw sockets, a thread per
connection), plain or TLS with a certificate from :func:`self_signed_certificate`. Each path
answers with the :class:`Answer` a test put in :attr:`BadLegacy.routes`::

    with BadLegacy() as idp:
        idp.routes["/token"] = Answer(200, b'{"access_token": "x"}', trickle=0.2)  # a byte / 0.2 s
        idp.routes["/userinfo"] = Answer(hang=True)          # takes the request, never answers
        idp.routes["/big"] = Answer(200, b"x" * 10_000_000)
        idp.routes["/real"] = Answer(relay="http://127.0.0.1:8000")  # a real IdP behind it
        ...
        [seen] = idp.seen("/token")
        assert not seen.finished.is_set()  # the client gave up before the answer was all sent

Every request is recorded as :class:`Seen` (path, body, and whether the answer was sent in
full), so tests can count calls and prove structurally that a client stopped waiting while the
peer was still sending. :func:`stalled_listener` is a port where even the TCP connect hangs.
Closing the server releases every hanging or trickling answer.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

#: Longest any answer is held (hanging, trickling); closing the server releases it sooner.
HOLD_LIMIT = 60.0


@dataclass(frozen=True)
class Answer:
    """One scripted answer.

    ``trickle``: seconds between single bytes of the answer (its body, or with
    ``trickle_head`` the status line and headers too). ``hang``: read the request, never answer.
    ``relay``: forward the request to this base URL and answer what it answers.
    ``length``: the Content-Length to declare (default: the body's; None with ``chunked``).
    """

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    trickle: float = 0.0
    trickle_head: bool = False
    hang: bool = False
    relay: str | None = None
    chunked: bool = False


@dataclass
class Seen:
    """A request as the peer received it, and what became of its answer."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    finished: threading.Event = field(default_factory=threading.Event)  # answer sent in full
    gone: threading.Event = field(default_factory=threading.Event)  # the client went away


class BadLegacy:
    """The server; a context manager, or :meth:`start` and :meth:`close`."""

    def __init__(self, certificate: tuple[Path, Path] | None = None) -> None:
        self.routes: dict[str, Answer] = {}
        self.requests: list[Seen] = []
        self.released = threading.Event()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._tls = None
        if certificate is not None:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(*certificate)
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- life -------------------------------------------------------------------------------
    def start(self) -> BadLegacy:
        self.released.clear()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, name="bad-legacy", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self.released.set()
        if self._listener is not None:
            self._thread.join(5)
            self._listener.close()
            self._listener = None

    def __enter__(self) -> BadLegacy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- what tests read ----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def seen(self, path: str | None = None) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def wait_for(self, count: int, path: str | None = None, timeout: float = 10.0) -> list[Seen]:
        """Block until ``count`` requests (to ``path``) arrived; they are returned."""
        with self._arrived:
            self._arrived.wait_for(lambda: len([r for r in self.requests
                                                if path is None or r.path == path]) >= count,
                                   timeout)
        found = self.seen(path)
        assert len(found) >= count, f"only {len(found)} of {count} requests arrived"
        return found

    # -- serving ------------------------------------------------------------------------------
    def _accept(self) -> None:
        listener = self._listener
        listener.settimeout(0.05)  # closing a socket does not wake a blocked accept()
        while not self.released.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            conn.setblocking(True)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(HOLD_LIMIT)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each trickled byte now
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)
            while not self.released.is_set():
                seen = self._read_request(conn)
                if seen is None:
                    return
                with self._arrived:
                    self.requests.append(seen)
                    self._arrived.notify_all()
                if not self._answer(conn, seen):
                    return
        except (OSError, ssl.SSLError):
            return  # a client that refused our certificate, or went away
        finally:
            conn.close()

    @staticmethod
    def _read_request(conn: socket.socket) -> Seen | None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        length = int(next((v for k, v in headers.items() if k.lower() == "content-length"), 0))
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            body += chunk
        return Seen(method, target.split("?")[0], headers, body)

    def _answer(self, conn: socket.socket, seen: Seen) -> bool:
        """Send the route's answer; False when the connection must end."""
        answer = self.routes.get(seen.path, Answer(404, b'{"error": "not_found"}'))
        if answer.hang:
            self.released.wait(HOLD_LIMIT)
            return False
        status, content_type, body = answer.status, answer.content_type, answer.body
        if answer.relay:
            status, content_type, body = _relay(answer.relay, seen)
        if answer.chunked:
            framing = b"Transfer-Encoding: chunked\r\n"
            body = b"".join(b"%x\r\n%s\r\n" % (len(part), part)
                            for part in _parts(body, 65536)) + b"0\r\n\r\n"
        else:
            framing = b"Content-Length: %d\r\n" % len(body)
        head = (b"HTTP/1.1 %d Scripted\r\nContent-Type: %s\r\n%sConnection: keep-alive\r\n\r\n"
                % (status, content_type.encode(), framing))
        try:
            if answer.trickle and answer.trickle_head:
                self._trickle(conn, head + body, answer.trickle)
            else:
                conn.sendall(head)
                if answer.trickle:
                    self._trickle(conn, body, answer.trickle)
                else:
                    conn.sendall(body)
        except OSError:
            seen.gone.set()
            return False
        if self.released.is_set():
            seen.gone.set()
            return False
        seen.finished.set()
        return True

    def _trickle(self, conn: socket.socket, data: bytes, every: float) -> None:
        for index in range(len(data)):
            if self.released.wait(every):
                return
            conn.sendall(data[index:index + 1])


def _parts(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def _relay(base: str, seen: Seen) -> tuple[int, str, bytes]:
    """Forward ``seen`` to ``base`` (a real IdP) and return its answer."""
    keep = {k: v for k, v in seen.headers.items()
            if k.lower() in ("authorization", "content-type", "accept")}
    request = urllib.request.Request(base + seen.path, data=seen.body or None, headers=keep,
                                     method=seen.method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - test URL
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


@contextmanager
def stalled_listener() -> Iterator[int]:
    """A port on 127.0.0.1 where TCP connects hang: a listener that never accepts, whose
    accept queue is already full, so the kernel drops further SYNs. Yields the port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(3):  # enough to fill a backlog of 0 (+1) on Linux
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (and its key), as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bad legacy IdP")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "legacy-cert.pem", directory / "legacy-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


# -- aiming Ferry's ``ropc`` connector at it -----------------------------------------------
TOKEN = b'{"access_token": "bad-legacy-token", "token_type": "Bearer", "expires_in": 60}'
PROFILE = (b'{"sub": "legacy-7", "email": "ada@example.com", "email_verified": true, '
           b'"given_name": "Ada"}')


def healthy(idp: BadLegacy) -> BadLegacy:
    """Answer the password grant and userinfo like a healthy legacy IdP (any password)."""
    idp.routes["/token"] = Answer(200, TOKEN)
    idp.routes["/userinfo"] = Answer(200, PROFILE)
    return idp


def ropc_table(idp: BadLegacy, **settings: object) -> dict:
    """A ``ropc`` connector table aimed at ``idp``: a 1 s deadline, and connect and read
    timeouts far longer, so only the deadline can end a call early."""
    return {"type": "ropc", "token_url": idp.url("/token"), "userinfo_url": idp.url("/userinfo"),
            "client_id": "ferry", "client_secret": "bad-legacy-client-secret",
            "connect_timeout": 10, "read_timeout": 20, "deadline": 1, **settings}
