"""What stands between a journey and a legacy IDP: a circuit breaker and a call rate limit.

The breaker counts consecutive *unavailable* answers (timeouts, 5xx, garbage). After
``failures`` of them it opens: calls fail at once with LegacyUnavailable for ``reset``
seconds, so users get "try again later" immediately instead of waiting on timeouts, and the
legacy IDP gets room to recover. Then one trial call goes through: success closes the breaker,
failure opens it again. A wrong password is an answer, not a failure. Breaker state lives in
each server process (each server learns about an outage by itself within ``failures`` calls).

The rate limit (``"20 per second"``) keeps Ferry under a vendor's limits; calls beyond it fail
at once as unavailable rather than queueing. Its counter lives in the rate-limit storage, so it
is shared by every server when that is Redis.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)
T = TypeVar("T")


def valid_rate_limit(text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True


class CallGuard:
    def __init__(self, name: str, failures: int, reset: float, rate_limit: str | None,
                 storage_uri: str) -> None:
        self.name = name
        self.failures_to_open = failures
        self.reset = reset
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False
        self._rate = parse(rate_limit) if rate_limit else None
        self._limiter = (MovingWindowRateLimiter(storage_from_string(storage_uri))
                         if rate_limit else None)

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            return "half-open" if time.monotonic() - self._opened_at >= self.reset else "open"

    def call(self, function: Callable[..., T], *args: Any) -> T:
        from connectors.base import LegacyUnavailable

        self._admit()
        if self._limiter is not None and not self._limiter.hit(self._rate, "connector", self.name):
            self._release_trial()
            raise LegacyUnavailable(f"Ferry's own call limit for {self.name} ({self._rate}) reached")
        try:
            result = function(*args)
        except LegacyUnavailable as error:
            self._record(failed=error.outage)
            raise
        except BaseException:
            self._record(failed=False)  # an answer (wrong password, MFA...), not an outage
            raise
        self._record(failed=False)
        return result

    def _admit(self) -> None:
        from connectors.base import LegacyUnavailable

        with self._lock:
            if self._opened_at is None:
                return
            if time.monotonic() - self._opened_at < self.reset or self._trial_running:
                raise LegacyUnavailable(f"circuit breaker open for {self.name}")
            self._trial_running = True  # half-open: exactly one trial call

    def _release_trial(self) -> None:
        with self._lock:
            self._trial_running = False

    def _record(self, failed: bool) -> None:
        with self._lock:
            self._trial_running = False
            if not failed:
                if self._opened_at is not None:
                    log.warning("legacy IDP %s answers again: circuit breaker closed", self.name)
                self._failures, self._opened_at = 0, None
                return
            self._failures += 1
            if self._opened_at is not None or self._failures >= self.failures_to_open:
                if self._opened_at is None:
                    log.warning("legacy IDP %s failed %d times in a row: circuit breaker open "
                                "for %.0f s", self.name, self._failures, self.reset)
                self._opened_at = time.monotonic()
