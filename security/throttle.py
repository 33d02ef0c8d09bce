"""Budgets that count in one atomic step: password attempts per identifier, and code sends.

Both sit on the rate limiter's storage (``ratelimit_storage_uri``: memory, or Redis so that
every server of a deployment shares the counts) through ``limits``' moving window, whose
:meth:`~limits.strategies.MovingWindowRateLimiter.hit` checks and counts at once (a lock in
memory, one Lua script in Redis). So 50 parallel wrong passwords for one identifier count 50,
and exactly as many as the limit get as far as a password check.

:class:`FailureThrottle` counts an attempt *before* the password is checked (:meth:`admit`) and
gives it back (:meth:`give_back`) when it turns out not to be a guess: the password was right,
or the legacy IDP could not answer. What stays counted are failures, as before; an attempt in
flight holds its place meanwhile. When the budget is spent the identifier is refused until the
window moves on: the account is never locked for good.

:class:`SendBudget` limits one-time-code sends per identifier, per client IP address and per
journey run, and gives a browser that has signed in as the identifier before (a *known device*,
see :mod:`security.known_devices`) a budget of its own, so that nobody can spend the budget of
someone else's address and keep its owner from signing in.

**Redis away.** When Redis does not answer (down, unreachable, or slower than
:data:`settings.REDIS_CONNECT_TIMEOUT` to connect or :data:`settings.REDIS_TIMEOUT` to answer),
each process counts in its own memory instead, so signing in and sending codes go on and every
limit still holds per process (a client gets up to processes x servers times a budget). It says
so once in the log, tries Redis again every :data:`REDIS_RETRY` seconds (one request tries, the
others keep counting in memory meanwhile), and says once when Redis answers and the counts are
shared again. What was counted in memory stays there: a refund goes back to the store that counted
the attempt, and back on Redis only Redis' counts apply.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

from flask import current_app
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from security.memory_storage import SweptMemoryStorage
from settings import REDIS_CONNECT_TIMEOUT, REDIS_TIMEOUT

__all__ = ["Admission", "BudgetSpent", "Charge", "FailureThrottle", "Requester", "SendBudget",
           "throttle"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds between two tries of a Redis that did not answer (meanwhile: counts in process).
REDIS_RETRY = 5.0
#: Schemes of a single Redis, which take socket timeouts (sentinel and cluster have their own).
_PLAIN_REDIS = ("redis", "rediss", "redis+unix", "valkey", "valkeys", "valkey+unix")


def _key(*parts: str) -> str:
    # Hashed so the limiter storage holds no e-mail addresses or IP addresses.
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _storage(uri: str) -> Storage:
    """The limiter storage of ``uri``: memory, or Redis (plain, TLS, unix, sentinel, cluster)."""
    scheme = uri.partition("://")[0]
    if scheme != "memory" and not scheme.startswith(("redis", "valkey")):
        raise ValueError("ratelimit_storage_uri: Ferry's throttles need memory:// or redis://")
    if scheme in _PLAIN_REDIS:
        # Without them a Redis whose machine is gone holds every sign-in for the kernel's TCP
        # timeout instead of failing over to memory.
        return storage_from_string(uri, socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
                                   socket_timeout=REDIS_TIMEOUT)
    return storage_from_string(uri)


def _where(uri: str) -> str:
    """Where a Redis is, for the log: never the URI itself, which may carry a password."""
    parts = urlsplit(uri)
    return f"{parts.hostname}:{parts.port or 6379}{parts.path}" if parts.hostname else parts.path


class _Counts:
    """Where the windows count: the configured storage, and for Redis the process's memory to
    count in while Redis does not answer (one per Redis and process, see :func:`_counts`)."""

    def __init__(self, uri: str) -> None:
        self.shared = _storage(uri)
        if not isinstance(self.shared, MemoryStorage | RedisStorage):
            raise ValueError("ratelimit_storage_uri: Ferry's throttles need memory:// or redis://")
        self.local = SweptMemoryStorage() if isinstance(self.shared, RedisStorage) else self.shared
        self.limiters = {True: MovingWindowRateLimiter(self.shared),
                         False: MovingWindowRateLimiter(self.local)}
        self.where = _where(uri)
        self._errors: tuple[type[Exception], ...] = ()  # memory never goes away
        if self.local is not self.shared:
            base = self.shared.base_exceptions
            self._errors = (StorageError, *(base if isinstance(base, tuple) else (base,)))
        self._lock = threading.Lock()
        self._down = False
        self._retry_at = 0.0

    def run(self, operation: Callable[[MovingWindowRateLimiter], T]) -> tuple[T, bool]:
        """``operation`` on the shared storage, or on this process's memory while Redis does
        not answer; its result, and whether the shared storage ran it."""
        if self._try_shared():
            try:
                result = operation(self.limiters[True])
            except self._errors as error:
                self._failed(error)
            else:
                if self._down:
                    self._answered()
                return result, True
        return operation(self.limiters[False]), False

    @property
    def answering(self) -> bool:
        """Whether the shared storage is counting (else: this process's memory, Redis away)."""
        return not self._down

    def on(self, shared: bool, operation: Callable[[MovingWindowRateLimiter], object]) -> None:
        """``operation`` on the store named (a refund goes where its entry was counted). A
        Redis that does not answer keeps the entry, which leaves the window in time."""
        if not shared or self.local is self.shared:
            operation(self.limiters[shared])
            return
        if not self._try_shared():
            return
        try:
            operation(self.limiters[True])
        except self._errors as error:
            self._failed(error)
        else:
            if self._down:
                self._answered()

    def _try_shared(self) -> bool:
        """Whether to ask the shared storage: it answers, or it is time to try it again (then
        this caller is the one that tries; the others keep to memory until it has)."""
        if not self._down:
            return True
        with self._lock:
            now = time.monotonic()
            if not self._down or now >= self._retry_at:
                self._retry_at = now + REDIS_RETRY
                return True
            return False

    def _failed(self, error: Exception) -> None:
        with self._lock:
            self._retry_at = time.monotonic() + REDIS_RETRY
            if not self._down:
                self._down = True
                cause = error.__cause__ if isinstance(error, StorageError) else error
                log.warning("Redis at %s does not answer (%s): password-attempt and code-send "
                            "budgets count in each process until it does", self.where,
                            type(cause or error).__name__)

    def _answered(self) -> None:
        with self._lock:
            if self._down:
                self._down = False
                log.warning("Redis at %s answers again: password-attempt and code-send budgets "
                            "are shared again", self.where)


_shared_counts: dict[str, _Counts] = {}
_shared_counts_lock = threading.Lock()


def _counts(uri: str) -> _Counts:
    """The counts of ``uri``: one per Redis and process (one client, one memory to fall back
    on, one notice when it goes away), and a fresh memory for each ``memory://`` throttle."""
    if uri.partition("://")[0] == "memory":
        return _Counts(uri)
    with _shared_counts_lock:
        if uri not in _shared_counts:
            _shared_counts[uri] = _Counts(uri)
        return _shared_counts[uri]


class _Window:
    """One moving-window limit on the counts, with the one thing ``limits`` lacks: a refund."""

    def __init__(self, counts: _Counts, limit: str) -> None:
        self.counts = counts
        self.item: RateLimitItem = parse(limit)

    def hit(self, key: str) -> tuple[bool, bool]:
        """Count one, atomically, if the window has room: whether it did, and whether in the
        shared storage (else in this process's memory)."""
        return self.counts.run(lambda limiter: limiter.hit(self.item, key))

    def refund(self, key: str, shared: bool) -> None:
        """Take back one entry counted by :meth:`hit` in the store it names (``shared``).

        The newest entry goes, not necessarily the refunded one: the count is exact, and the
        remaining entries leave the window at most one attempt's duration sooner.
        """
        stored = self.item.key_for(key)

        def take_newest(limiter: MovingWindowRateLimiter) -> None:
            storage = limiter.storage
            if not isinstance(storage, MemoryStorage):
                # The moving window is a list of timestamps, newest first (limits' Lua scripts).
                storage.get_connection().lpop(storage.prefixed_key(stored))
                return
            with storage.locks[stored]:
                events = storage.events.get(stored)
                if events:
                    del events[0]  # newest first, as MemoryStorage.acquire_entry inserts them

        self.counts.on(shared, take_newest)

    def retry_after(self, key: str) -> int:
        """0 when one more is allowed, else the seconds until it is."""

        def wait(limiter: MovingWindowRateLimiter) -> int:
            if limiter.test(self.item, key):
                return 0
            reset_at, _remaining = limiter.get_window_stats(self.item, key)
            return max(1, math.ceil(reset_at - time.time()))

        return self.counts.run(wait)[0]

    def clear(self, key: str) -> None:
        """Forget ``key``'s entries in the store counting now and in this process's memory."""
        self.counts.run(lambda limiter: limiter.clear(self.item, key))
        MovingWindowRateLimiter(self.counts.local).clear(self.item, key)


@dataclass(frozen=True)
class Admission:
    """An attempt :meth:`FailureThrottle.admission` counted, and where: hand it to
    :meth:`FailureThrottle.give_back` so the refund goes to the store that counted it."""

    shared: bool = True  # counted in the shared storage (else: in this process's memory)


class FailureThrottle:
    """Password attempts per identifier (``failed_signins_per_identifier``), whatever the IP."""

    def __init__(self, storage_uri: str, limit: str) -> None:
        self.window = _Window(_counts(storage_uri), limit)

    def admission(self, scope: str, identifier: str) -> Admission | None:
        """Count one attempt and let it go on to a password check, atomically: an
        :class:`Admission` to give back if it turns out no guess, or None when the budget is
        spent (nothing is counted then)."""
        admitted, shared = self.window.hit(_key(scope, identifier))
        return Admission(shared) if admitted else None

    def admit(self, scope: str, identifier: str) -> bool:
        """Whether :meth:`admission` let one more attempt through (counting it)."""
        return self.admission(scope, identifier) is not None

    def give_back(self, scope: str, identifier: str, admission: Admission | None = None) -> None:
        """Uncount an admitted attempt that was no guess (right password, legacy outage), in
        the store that counted it (``admission``; without one, the store counting now)."""
        shared = admission.shared if admission else self.window.counts.answering
        self.window.refund(_key(scope, identifier), shared)

    def retry_after(self, scope: str, identifier: str) -> int:
        """0 when attempts are allowed, else the seconds until the next one is."""
        return self.window.retry_after(_key(scope, identifier))

    def clear(self, scope: str, identifier: str) -> None:
        """Forget every attempt counted for ``identifier`` (operators, tests)."""
        self.window.clear(_key(scope, identifier))


@dataclass(frozen=True)
class Requester:
    """Who asks for a code: the journey run, the client IP, and this browser's known-device id
    for the identifier (None: the browser has not signed in as it before)."""

    session: str | None = None
    ip: str | None = None
    device: str | None = None


@dataclass(frozen=True)
class Charge:
    """What one send took from which budgets (pool, key, shared or in this process's memory),
    to give it all back if the send fails."""

    taken: tuple[tuple[str, str, bool], ...] = field(default_factory=tuple)


class BudgetSpent(Exception):
    """A budget of code sends is spent; ``retry_after`` seconds until it has room again."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class SendBudget:
    """One-time-code sends: per identifier, per IP, per journey run, and per known device.

    A browser the identifier's owner signed in with before (``Requester.device``) spends only
    its own budget for that identifier (as large as the identifier's): a send storm from other
    browsers and addresses, which spends the identifier's shared budget, cannot reach it, nor
    can a storm from the same IP (an office behind one NAT address). Every other browser spends
    from its journey run's budget, its IP's and the identifier's shared one, all or nothing.
    """

    def __init__(self, storage_uri: str, per_identifier: str, per_ip: str,
                 per_session: str) -> None:
        counts = _counts(storage_uri)
        self.windows = {"identifier": _Window(counts, per_identifier),
                        "device": _Window(counts, per_identifier),
                        "ip": _Window(counts, per_ip),
                        "session": _Window(counts, per_session)}

    def _pools(self, scope: str, identifier: str, who: Requester) -> list[tuple[str, str]]:
        if who.device:
            return [("device", _key(scope, identifier, who.device))]
        pools = []
        if who.session:
            pools.append(("session", _key("session", who.session)))
        if who.ip:
            pools.append(("ip", _key("ip", who.ip)))
        pools.append(("identifier", _key(scope, identifier)))
        return pools

    def take(self, scope: str, identifier: str, who: Requester | None = None) -> Charge:
        """Count one send for ``identifier`` in every budget it draws on, or in none.

        Raises :class:`BudgetSpent` when one of them is spent (the others are given back).
        ``scope`` keeps kinds of codes apart in the identifier's budget (Ferry's own, the legacy
        IDP's); the IP and run budgets hold every kind.
        """
        taken: list[tuple[str, str, bool]] = []
        for pool, key in self._pools(scope, identifier, who or Requester()):
            counted, shared = self.windows[pool].hit(key)
            if not counted:
                self.give_back(Charge(tuple(taken)))
                raise BudgetSpent(self.windows[pool].retry_after(key))
            taken.append((pool, key, shared))
        return Charge(tuple(taken))

    def give_back(self, charge: Charge) -> None:
        """Uncount a send that did not happen (the mail server or the legacy IDP failed)."""
        for pool, key, shared in charge.taken:
            self.windows[pool].refund(key, shared)

    def retry_after(self, scope: str, identifier: str, who: Requester | None = None) -> int:
        """0 when a send would be allowed now, else the seconds to wait (nothing is counted)."""
        waits = [self.windows[pool].retry_after(key)
                 for pool, key in self._pools(scope, identifier, who or Requester())]
        return max(waits, default=0)


def throttle() -> FailureThrottle:
    """The app's password-attempt throttle."""
    return current_app.extensions["ferry.throttle"]
