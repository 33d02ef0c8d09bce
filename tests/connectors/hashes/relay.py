"""A loopback TCP relay for the ``hashes`` connector's PostgreSQL tests: cutting it is the database
becoming unreachable."""

from __future__ import annotations

import socket
import threading
from contextlib import contextmanager


# -- SQL: PostgreSQL -----------------------------------------------------------------------------
class TcpRelay:
    """A loopback relay in front of PostgreSQL: cutting it is the database becoming unreachable."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._open: list[socket.socket] = []
        self.start()

    def start(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self._running = False
        self._listener.close()
        for sock in self._open:
            sock.close()
        self._open.clear()

    @contextmanager
    def cut(self):
        self.stop()
        try:
            yield
        finally:
            self.start()

    def _accept(self) -> None:
        listener = self._listener
        while self._running:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            upstream = socket.create_connection(self.target, timeout=5)
            upstream.settimeout(None)
            self._open += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
