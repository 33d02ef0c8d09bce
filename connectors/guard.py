"""What stands between a journey and a legacy IDP: deadline, breaker, bulkhead and rate limit.

Every guarded call (``check_password``, ``find``, ``begin``, ``request_code``...) goes through
:meth:`CallGuard.call`, which in order:

1. starts the call's total **deadline** (the connector's ``deadline``; see
   :mod:`connectors.deadline`): connect, TLS and every read of every request the call makes end
   by then, and past it the call is unavailable;
2. asks the **circuit breaker** (:mod:`connectors.breaker`): while it is open the call fails at
   once; half-open, exactly one call is the probe;
3. takes a slot of the connector's **bulkhead** (:mod:`connectors.bulkhead`): beyond
   ``max_concurrent_calls`` in this process the call fails fast, and its refusal is not
   counted by the breaker;
4. checks the **call rate limit** (``"20 per second"``), which keeps Ferry under a vendor's
   limits; calls beyond it fail at once as unavailable rather than queueing, uncounted too. Its
   counter lives in the rate-limit storage, shared by every server when that is Redis; a
   storage that does not answer lets calls through (said once in the log).

Then the answer goes back to the breaker: *unavailable* (an outage) counts towards opening it,
anything else (an identity, a wrong password, an MFA challenge) is an answer and closes it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from limits import parse
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from connectors import deadline as deadlines
from connectors.breaker import BreakerState, Policy, make_breaker
from connectors.bulkhead import DEFAULT_CONCURRENT_CALLS, Bulkhead, BulkheadFull
from connectors.errors import LegacyUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")
#: Seconds a half-open probe may take beyond its deadline before another call may probe.
PROBE_SLACK = 1.0


def valid_rate_limit(text: str) -> bool:
    """Whether ``text`` reads as a rate (``"20 per second"``)."""
    try:
        parse(text)
    except ValueError:
        return False
    return True


#: Called after every guarded call as ``observer(connector, operation, outcome, seconds)``, with
#: ``outcome`` one of ``answer``, ``unavailable`` (an outage) or ``refused`` (Ferry did not call).
#: The lifecycle's latency record and the Prometheus metrics register here; an observer that
#: raises is logged and never fails the call.
OBSERVERS: list[Callable[[str, str, str, float], None]] = []


def observe(observer: Callable[[str, str, str, float], None]) -> None:
    """Register ``observer`` for every guarded call of every connector (once)."""
    if observer not in OBSERVERS:
        OBSERVERS.append(observer)


def _tell(connector: str, operation: str, outcome: str, seconds: float) -> None:
    for observer in OBSERVERS:
        try:
            observer(connector, operation, outcome, seconds)
        except Exception:  # noqa: BLE001 - a metric must never fail a sign-in
            log.exception("observer %r of legacy calls failed", observer)


class _NotCalled(Exception):
    """The call was refused before it reached the legacy IDP (no slot, rate limit)."""


class CallGuard:
    """The guard of one connector instance (its breaker, bulkhead and rate limit)."""

    def __init__(self, name: str, failures: int, reset: float, rate_limit: str | None,
                 storage_uri: str, deadline: float = deadlines.DEFAULT_DEADLINE,
                 max_concurrent_calls: int = DEFAULT_CONCURRENT_CALLS, enabled: bool = True,
                 closed: bool = False) -> None:
        self.name = name
        self.enabled = enabled
        self.closed = closed  # migration = "closed": the legacy IDP is switched off, never called
        self.deadline = deadline
        self.breaker = make_breaker(name, Policy(failures, reset, deadline + PROBE_SLACK),
                                    storage_uri)
        self.bulkhead = Bulkhead(name, max_concurrent_calls)
        self._rate = parse(rate_limit) if rate_limit else None
        self._limiter = (MovingWindowRateLimiter(storage_from_string(storage_uri,
                                                                     wrap_exceptions=True))
                         if rate_limit else None)
        self._rate_storage_down = False

    @property
    def state(self) -> BreakerState:
        """The breaker's state: ``closed``, ``open`` or ``half_open``."""
        return self.breaker.state()

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` under the deadline, the breaker, the bulkhead and the rate limit."""
        operation = getattr(function, "__name__", "call")
        started = time.perf_counter()
        outcome = "answer"
        try:
            return self._call(function, *args)
        except BaseException as error:
            outcome = _outcome_of(error)
            raise
        finally:
            _tell(self.name, operation, outcome, time.perf_counter() - started)

    def _call(self, function: Callable[..., T], *args: Any) -> T:
        if not self.enabled:
            raise LegacyUnavailable(f"connector {self.name} is disabled by an operator", outage=False)
        if self.closed:
            raise LegacyUnavailable(f"connector {self.name} is closed (migration = \"closed\")",
                                    outage=False)
        with deadlines.within(self.deadline) as deadline:
            admission = self.breaker.admit()
            if admission is None:
                raise LegacyUnavailable(self._refusal())
            try:
                with self.bulkhead.slot(deadline):
                    self._within_rate_limit()
                    result = function(*args)
            except BulkheadFull as full:
                self.breaker.release(admission)
                log.warning("legacy IDP %s unavailable: %s", self.name, full.reason)
                raise LegacyUnavailable(full.reason, outage=False) from None
            except _NotCalled as refused:
                self.breaker.release(admission)
                raise LegacyUnavailable(str(refused), outage=False) from None
            except LegacyUnavailable as error:
                self.breaker.record(admission, failed=error.outage)
                raise
            except BaseException:
                self.breaker.record(admission, failed=False)  # an answer (wrong password, MFA...)
                raise
            self.breaker.record(admission, failed=False)
            return result

    def _refusal(self) -> str:
        if self.breaker.state() == "half_open":
            return f"circuit breaker open for {self.name} (one trial call is under way)"
        return f"circuit breaker open for {self.name}"

    def _within_rate_limit(self) -> None:
        if self._limiter is None:
            return
        try:
            allowed = self._limiter.hit(self._rate, "connector", self.name)
        except StorageError as error:
            if not self._rate_storage_down:
                self._rate_storage_down = True
                log.warning("connector %s: the rate-limit storage does not answer (%s): calls "
                            "go through without rate_limit until it does", self.name,
                            type(error.storage_error).__name__)
            return
        self._rate_storage_down = False
        if not allowed:
            raise _NotCalled(f"Ferry's own call limit for {self.name} ({self._rate}) reached")



def _outcome_of(error: BaseException) -> str:
    if isinstance(error, LegacyUnavailable):
        return "unavailable" if error.outage else "refused"
    return "answer"  # a wrong password, an MFA challenge: the IDP answered
