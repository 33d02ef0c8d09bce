"""Sockets that keep the call's deadline: the transport under :class:`connectors.http.LegacyHttp`.

``requests`` (urllib3) applies its read timeout to each receive, so an answer that trickles in a
byte at a time never times out, not even while the status line and headers arrive (before any
code of ours could look at a clock). This transport makes the sockets themselves keep the
deadline of the call that uses them (:func:`connectors.deadline.current`): before every
connect, TLS handshake, send and receive, the socket's timeout is cut down to what is left of
the deadline, and once it passed the operation fails at once with :class:`DeadlineExceeded` (a
``TimeoutError``, which urllib3 and requests report as a timeout). CPython bounds a whole TLS
handshake and a whole ``sendall`` by the timeout, so nothing can stretch one operation either.
Pooled keep-alive connections stay pooled: the deadline is read at each operation, so a reused
socket keeps the deadline of whichever call uses it.

The name of the legacy IDP is resolved in a thread of its own with a wait bounded by the same
deadline (``getaddrinfo`` cannot be interrupted); at most :data:`MAX_LOOKUPS` lookups hang at
once per process, after which more fail at once rather than pile up threads.

TLS is always verified, against the connector's ``ca_file`` when it has one (only those CAs, or
that self-signed certificate, are trusted then) and else against certifi's public CAs, as
``requests`` does. There is no switch to turn it off: a legacy IDP receives users' passwords.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import sys
import threading
from typing import Any

from requests.adapters import HTTPAdapter
from requests.certs import where as certifi_bundle
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

from connectors import deadline as deadlines

#: Most name lookups of legacy IDPs that may be pending at once in a process.
MAX_LOOKUPS = 8
_lookups = threading.BoundedSemaphore(MAX_LOOKUPS)


class DeadlineExceeded(TimeoutError):
    """A socket operation was not started, or was cut short, because the deadline passed."""


class _KeepsDeadline:
    """Socket mixin: each operation waits no longer than the current call's deadline allows."""

    _asked: float | None = None  # the timeout urllib3 set; the deadline may shorten it

    def settimeout(self, value: float | None) -> None:
        self._asked = value
        super().settimeout(value)  # type: ignore[misc]

    def _bound(self) -> None:
        deadline = deadlines.current()
        if deadline is None:
            return
        if deadline.expired():
            raise DeadlineExceeded(f"{deadline.describe()} passed")
        super().settimeout(deadline.bound(self._asked))  # type: ignore[misc]

    def connect(self, address: Any) -> None:
        self._bound()
        super().connect(address)  # type: ignore[misc]

    def send(self, *args: Any) -> int:
        self._bound()
        return super().send(*args)  # type: ignore[misc]

    def sendall(self, *args: Any) -> None:
        self._bound()
        super().sendall(*args)  # type: ignore[misc]

    def recv(self, *args: Any) -> bytes:
        self._bound()
        return super().recv(*args)  # type: ignore[misc]

    def recv_into(self, *args: Any) -> int:
        self._bound()
        return super().recv_into(*args)  # type: ignore[misc]


class DeadlineSocket(_KeepsDeadline, socket.socket):
    """A TCP socket that keeps the call's deadline."""


class DeadlineSSLSocket(_KeepsDeadline, ssl.SSLSocket):
    """A TLS socket that keeps the call's deadline (handshake, reads and writes)."""

    def do_handshake(self, *args: Any) -> None:
        self._bound()
        super().do_handshake(*args)

    def read(self, *args: Any) -> Any:
        self._bound()
        return super().read(*args)

    def write(self, *args: Any) -> int:
        self._bound()
        return super().write(*args)


_public: ssl.SSLContext | None = None
_public_lock = threading.Lock()


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` is this machine (``localhost`` or a loopback address): the only place
    a connector's plain-http address is accepted."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Verification against ``ca_file`` alone, or certifi's CAs; sockets that keep deadlines.

    The certifi context is built once per process (loading the bundle takes ~30 ms) and shared,
    which is safe: urllib3 only sets the same verify mode and ALPN on it at each connect. A
    ``ca_file`` context is built for its connector, so a changed file is read when the
    connector is built again.
    """
    global _public
    if ca_file is None:
        with _public_lock:
            if _public is None:
                _public = tls_context(certifi_bundle())
            return _public
    context = ssl.create_default_context(cafile=ca_file)
    context.sslsocket_class = DeadlineSSLSocket
    return context


def ca_file_problem(path: str) -> str | None:
    """Why ``path`` cannot serve as a ``ca_file`` (no file, no PEM certificate), or None."""
    try:
        tls_context(path)
    except (OSError, ssl.SSLError) as error:
        return f"cannot load CA certificates from {path!r}: {error}"
    return None


def resolve(host: str, port: int, timeout: float | None) -> list[tuple[Any, ...]]:
    """``getaddrinfo`` for a TCP connection, giving up after ``timeout`` seconds."""
    family = allowed_gai_family()
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:  # a literal address: nothing to look up, nothing that can hang
        return socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
    if not _lookups.acquire(blocking=False):
        raise DeadlineExceeded(f"{MAX_LOOKUPS} name lookups already hang in this process")
    found: list[Any] = []

    def look_up() -> None:
        try:
            found.append(socket.getaddrinfo(host, port, family, socket.SOCK_STREAM))
        except OSError as error:
            found.append(error)
        finally:
            _lookups.release()

    worker = threading.Thread(target=look_up, name=f"ferry-dns-{host}", daemon=True)
    worker.start()
    worker.join(timeout)
    if not found:
        raise DeadlineExceeded(f"looking up {host} took longer than {timeout:.2g} s")
    if isinstance(found[0], OSError):
        raise found[0]
    return found[0]


class _ConnectsInTime:
    """urllib3 connection mixin: a bounded lookup and sockets that keep the deadline."""

    host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any

    def _new_conn(self) -> socket.socket:
        deadline = deadlines.current()
        timeout = self.timeout if isinstance(self.timeout, int | float) else None
        if deadline is not None:
            timeout = deadline.bound(timeout)
        host = self._dns_host.strip("[]")  # type: ignore[attr-defined]
        try:
            sock = self._connect(resolve(host, self.port, timeout))
        except socket.gaierror as error:
            raise NameResolutionError(self.host, self, error) from error  # type: ignore[arg-type]
        except TimeoutError as error:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out: {error}") from error
        except OSError as error:
            raise NewConnectionError(self, f"Failed to establish a new connection: {error}") from error  # type: ignore[arg-type]
        sys.audit("http.client.connect", self, self.host, self.port)
        return sock

    def _connect(self, addresses: list[tuple[Any, ...]]) -> socket.socket:
        error: OSError | None = None
        for family, kind, proto, _name, address in addresses:
            sock = DeadlineSocket(family, kind, proto)
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                sock.settimeout(self.timeout if isinstance(self.timeout, int | float) else None)
                if self.source_address:
                    sock.bind(self.source_address)
                sock.connect(address)
                return sock
            except OSError as failed:
                error = failed
                sock.close()
        raise error or OSError("getaddrinfo returned no address")


class DeadlineHTTPConnection(_ConnectsInTime, HTTPConnection):
    """Plain HTTP to a legacy IDP (tests and internal networks)."""


class DeadlineHTTPSConnection(_ConnectsInTime, HTTPSConnection):
    """HTTPS to a legacy IDP, verified by the pool's context and nothing else."""

    def connect(self) -> None:
        # The context is the whole TLS policy: no CA bundle from requests' ``verify``, and
        # never unverified (requests' verify=False would otherwise switch verification off).
        self.ca_certs = self.ca_cert_dir = self.ca_cert_data = None
        self.cert_reqs = "CERT_REQUIRED"
        super().connect()


class _Pool(HTTPConnectionPool):
    ConnectionCls = DeadlineHTTPConnection


class _TlsPool(HTTPSConnectionPool):
    ConnectionCls = DeadlineHTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """A ``requests`` adapter whose connections keep deadlines and verify with ``context``."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, ssl_context=self.context, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TlsPool}

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, ssl_context=self.context, **proxy_kwargs)
        manager.pool_classes_by_scheme = {"http": _Pool, "https": _TlsPool}
        return manager
