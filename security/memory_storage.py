"""``memory://``: the ``limits`` library's in-process storage, swept on the hit path.

``limits.storage.MemoryStorage`` forgets expired counts from a ``threading.Timer`` that lives
10 ms and is started again by the next hit, so under steady traffic nearly every counted
request starts a thread (about two per password sign-in here). The counting itself is the
library's, unchanged: this class only replaces that housekeeping with a sweep at most once a
second, run by the hit that finds the last one a second old. Nothing depends on the sweep for
correctness: an expired count is dropped when read, and a moving window ignores old entries.

Importing this module registers the class for the ``memory`` scheme (``limits`` keeps one class
per scheme; the last registered wins), so flask-limiter, Ferry's throttles and the connectors'
rate limits all get it from ``memory://``.
"""

from __future__ import annotations

import time

from limits.storage import MemoryStorage

#: Seconds between two sweeps of expired counts.
SWEEP_EVERY = 1.0


class SweptMemoryStorage(MemoryStorage):
    """``MemoryStorage`` without a timer thread per hit (see the module docstring)."""

    STORAGE_SCHEME = ["memory"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options) -> None:
        """The library's storage; its first timer is cancelled at once."""
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.timer.cancel()
        self.timer.join()
        self._swept_at = time.monotonic()

    def __setstate__(self, state: dict) -> None:
        """An unpickled copy sweeps the same way (the library's would start a timer)."""
        super().__setstate__(state)
        self.timer.cancel()
        self.timer.join()
        self._swept_at = time.monotonic()

    # The library calls this name-mangled method on every hit; it would start the timer.
    def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now - self._swept_at >= SWEEP_EVERY:
            self._swept_at = now
            self._MemoryStorage__expire_events()
