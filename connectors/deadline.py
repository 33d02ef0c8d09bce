"""The total deadline of one call to a legacy IDP: connect, TLS, every read, every request.

A timeout on a socket restarts at every byte, so a legacy IDP that trickles its answer one byte
every few seconds would hold a worker for as long as it likes. A :class:`Deadline` is a point on
the monotonic clock instead: every guarded call (``check_password``, ``find``, ``begin``...)
starts one (the connector's ``deadline`` setting), and everything the call does on the way to the
legacy IDP asks :func:`current` how much time is left: the HTTP sockets before each send and
receive, the LDAP connect and receive timeouts, the Cognito client. Past it the call is
*unavailable*, with a reason that names the deadline.

The deadline lives in a context variable, so each thread (each request) sees its own, and code
that is not inside a guarded call (a test calling ``verify`` directly, a metadata refresh) starts
its own with :func:`within`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

#: What every connector allows a call by default (its ``deadline`` setting), in seconds.
DEFAULT_DEADLINE = 5.0

_current: ContextVar[Deadline | None] = ContextVar("ferry_legacy_deadline", default=None)


class Deadline:
    """A moment on the monotonic clock, ``seconds`` after it was made."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left; zero or less once it passed."""
        return self.expires - time.monotonic()

    def expired(self) -> bool:
        """Whether the deadline passed (with a millisecond of slack for timers that fire early)."""
        return self.remaining() <= 0.001

    def bound(self, timeout: float | None) -> float:
        """``timeout`` cut down to what is left (never zero: a socket would turn non-blocking)."""
        left = max(self.remaining(), 0.001)
        return left if timeout is None else min(timeout, left)

    def describe(self) -> str:
        """How operators read it in a reason: ``the 5 s deadline``."""
        return f"the {self.seconds:g} s deadline"


def current() -> Deadline | None:
    """The deadline of the legacy call this thread is making, or None outside one."""
    return _current.get()


@contextmanager
def within(seconds: float) -> Iterator[Deadline]:
    """Run the block under a deadline of ``seconds``, or under the one already running if that
    one ends sooner (a call inside a call never gets more time than the outer one has left)."""
    outer = _current.get()
    if outer is not None and outer.remaining() <= seconds:
        yield outer
        return
    deadline = Deadline(seconds)
    token = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(token)
