"""Serving a fake SaaS (a Flask app) on 127.0.0.1 in a thread, with outages on demand."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class QuietHandler(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:
        pass


class LoopbackServer:
    """Mixin: ``self.app`` served on a free port; :meth:`stopped` is an outage on the same port.

    ``_released`` is set while stopping, so handlers that hang on purpose let go.
    """

    thread_name = "loopback-peer"
    app: Any

    def _init_loopback(self) -> None:
        self._released = threading.Event()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def start(self):
        self._released.clear()
        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True,
                                   request_handler=QuietHandler)
        self.port = self._server.port
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, name=self.thread_name,
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def close(self) -> None:
        self.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    @contextmanager
    def stopped(self) -> Iterator[None]:
        """An outage: connections are refused inside; the same server answers again after."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
