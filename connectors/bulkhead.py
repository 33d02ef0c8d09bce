"""A bulkhead per legacy IDP: at most ``max_concurrent_calls`` calls to it at once in a process.

A legacy IDP that stalls holds every request that calls it until the call's deadline. Without a
limit, a few dozen users signing in for the first time would occupy every thread of a worker,
and users who already migrated (who never need the legacy IDP), discovery, token and JWKS
requests would queue behind them. With the bulkhead, calls beyond the limit wait a moment for a
slot (at most :data:`WAIT` seconds, and never past their deadline) and then fail fast as
*unavailable*: "try again later" for that user, and the worker's other threads stay free.

Sizing (the ``max_concurrent_calls`` default of 4): under gunicorn's ``gthread`` workers each
process serves ``--threads`` requests at once; the limit must stay well below that number so
that a stalled IDP can take only part of them. With 2 workers of 8 threads, a stalled IDP holds
at most 4 threads of each (8 of 16), and the other half keeps serving everyone else. With
``sync`` workers (one request per process) the bulkhead cannot help, as a process never has two
calls at once: there the deadline and the breaker bound the damage, and ``gthread`` is the
recommended worker class. Each connector has its own bulkhead, so with several legacy IDPs
keep the sum of their limits below the threads of a worker.

A full bulkhead is not evidence that the IDP is down (a burst of first sign-ins at a slow but
healthy IDP fills it too), so its refusals never count for the circuit breaker: the calls that
hold the slots do, when they time out.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from connectors.deadline import Deadline

#: The default ``max_concurrent_calls`` of a connector.
DEFAULT_CONCURRENT_CALLS = 4
#: Longest a call waits for a free slot (seconds), if its deadline leaves that much.
WAIT = 0.25


class BulkheadFull(Exception):
    """Every slot stayed taken while the call waited; ``reason`` says so for operators."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Bulkhead:
    """The slots of one connector in this process."""

    def __init__(self, name: str, limit: int = DEFAULT_CONCURRENT_CALLS, wait: float = WAIT) -> None:
        self.name = name
        self.limit = limit
        self.wait = wait
        self._slots = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self._in_use = 0

    @property
    def in_use(self) -> int:
        """Calls holding a slot now (for the metrics)."""
        return self._in_use

    @contextmanager
    def slot(self, deadline: Deadline | None = None) -> Iterator[None]:
        """Hold one slot for the block; :class:`BulkheadFull` when none frees up in time."""
        wait = self.wait if deadline is None else min(self.wait, max(deadline.remaining(), 0.0))
        if not self._slots.acquire(timeout=wait):
            raise BulkheadFull(f"{self.limit} calls to {self.name} are already under way in this "
                               f"process (max_concurrent_calls) and none ended within {wait:.2g} s")
        with self._lock:
            self._in_use += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_use -= 1
            self._slots.release()
