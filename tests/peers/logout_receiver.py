"""An app's back-channel logout endpoint, on loopback: it records what Ferry POSTs to it.

OpenID Connect Back-Channel Logout 1.0, section 2.5: the OP POSTs
``application/x-www-form-urlencoded`` ``logout_token=<JWT>`` to the app's
``backchannel_logout_uri``; the app answers ``200 OK`` (this receiver sends ``Cache-Control:
no-store`` with it, as the spec asks of apps). Any path is accepted, so one receiver serves
several apps (``receiver.url("/app-a")``, ``receiver.url("/app-b")``).

The receiver checks nothing: the tests verify what it recorded. Knobs:

* :meth:`fail_next` answers the next ``n`` requests with an error status (500 by default);
* :meth:`hang_next` holds the next ``n`` requests until :meth:`release` (or the server stops),
  then answers them normally; :meth:`wait_holding` waits until that many are being held;
* :attr:`requests` is every request, in order, with the status it was answered;
  :meth:`tokens` is the logout tokens of the requests answered 200;
  :meth:`wait_for` waits for a number of answered requests.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from flask import Flask, request

from tests.peers.loopback import LoopbackServer

#: How long any wait of this receiver lasts at most, so a broken test fails instead of hanging.
LONGEST_WAIT = 30.0


@dataclass
class Received:
    """One request as the receiver saw it, and how it answered."""

    path: str
    content_type: str
    form: dict[str, list[str]]
    status: int | None = None  # None while held

    @property
    def logout_token(self) -> str | None:
        values = self.form.get("logout_token")
        return values[0] if values else None


@dataclass
class LogoutReceiver(LoopbackServer):
    """Records back-channel logout requests; fails or hangs on demand."""

    requests: list[Received] = field(default_factory=list)
    thread_name = "logout-receiver"

    def __post_init__(self) -> None:
        self._init_loopback()
        self._changed = threading.Condition()
        self._failures: list[int] = []
        self._hangs = 0
        self._holding = 0
        self._let_go = threading.Event()
        self.app = self._build_app()

    def url(self, path: str = "/bcl") -> str:
        return self.base_url + path

    # -- knobs ----------------------------------------------------------------------------
    def fail_next(self, n: int, status: int = 500) -> None:
        with self._changed:
            self._failures.extend([status] * n)

    def hang_next(self, n: int) -> None:
        with self._changed:
            self._hangs += n
            self._let_go.clear()

    def release(self) -> None:
        """Let every held request go (they are answered 200)."""
        self._let_go.set()

    def stop(self) -> None:
        self._let_go.set()
        super().stop()

    # -- what happened ---------------------------------------------------------------------
    def tokens(self, path: str | None = None) -> list[str]:
        """The logout tokens of the requests answered 200 (to ``path`` only, if given)."""
        with self._changed:
            return [r.logout_token for r in self.requests
                    if r.status == 200 and (path is None or r.path == path)]

    def wait_for(self, answered: int, timeout: float = LONGEST_WAIT) -> bool:
        """Wait until at least ``answered`` requests were answered (any status)."""
        with self._changed:
            return self._changed.wait_for(
                lambda: sum(r.status is not None for r in self.requests) >= answered, timeout)

    def wait_holding(self, n: int, timeout: float = LONGEST_WAIT) -> bool:
        """Wait until ``n`` requests are being held open."""
        with self._changed:
            return self._changed.wait_for(lambda: self._holding >= n, timeout)

    @property
    def holding(self) -> int:
        with self._changed:
            return self._holding

    # -- the endpoint ------------------------------------------------------------------------
    def _build_app(self) -> Flask:
        app = Flask("logout_receiver")

        @app.post("/<path:name>")
        def receive(name: str):
            seen = Received(path="/" + name, content_type=request.content_type or "",
                            form=request.form.to_dict(flat=False))
            with self._changed:
                self.requests.append(seen)
                status = self._failures.pop(0) if self._failures else 200
                hang = self._hangs > 0
                if hang:
                    self._hangs -= 1
                    self._holding += 1
                self._changed.notify_all()
            if hang:
                self._let_go.wait(LONGEST_WAIT)
                with self._changed:
                    self._holding -= 1
            with self._changed:
                seen.status = status
                self._changed.notify_all()
            return "", status, {"Cache-Control": "no-store"}

        return app
