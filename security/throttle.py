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
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field

from flask import current_app
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, RedisStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

__all__ = ["BudgetSpent", "Charge", "FailureThrottle", "Requester", "SendBudget", "throttle"]


def _key(*parts: str) -> str:
    # Hashed so the limiter storage holds no e-mail addresses or IP addresses.
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _storage(uri: str) -> Storage:
    """The limiter storage of ``uri``: memory, or Redis (plain, TLS, unix, sentinel, cluster)."""
    scheme = uri.partition("://")[0]
    if scheme != "memory" and not scheme.startswith(("redis", "valkey")):
        raise ValueError("ratelimit_storage_uri: Ferry's throttles need memory:// or redis://")
    return storage_from_string(uri)


class _Window:
    """One moving-window limit on a storage, with the one thing ``limits`` lacks: a refund."""

    def __init__(self, storage: Storage, limit: str) -> None:
        if not isinstance(storage, MemoryStorage | RedisStorage):
            raise ValueError("ratelimit_storage_uri: Ferry's throttles need memory:// or redis://")
        self.storage = storage
        self.item: RateLimitItem = parse(limit)
        self.limiter = MovingWindowRateLimiter(storage)

    def hit(self, key: str) -> bool:
        """Count one, atomically, if the window has room; whether it did."""
        return self.limiter.hit(self.item, key)

    def refund(self, key: str) -> None:
        """Take back one entry counted by :meth:`hit`.

        The newest entry goes, not necessarily the refunded one: the count is exact, and the
        remaining entries leave the window at most one attempt's duration sooner.
        """
        stored = self.item.key_for(key)
        if isinstance(self.storage, RedisStorage):
            # The moving window is a list of timestamps, newest first (limits' Lua scripts).
            self.storage.get_connection().lpop(self.storage.prefixed_key(stored))
            return
        with self.storage.locks[stored]:
            events = self.storage.events.get(stored)
            if events:
                del events[0]  # newest first, as MemoryStorage.acquire_entry inserts them

    def retry_after(self, key: str) -> int:
        """0 when one more is allowed, else the seconds until it is."""
        if self.limiter.test(self.item, key):
            return 0
        reset_at, _remaining = self.limiter.get_window_stats(self.item, key)
        return max(1, math.ceil(reset_at - time.time()))

    def clear(self, key: str) -> None:
        self.limiter.clear(self.item, key)


class FailureThrottle:
    """Password attempts per identifier (``failed_signins_per_identifier``), whatever the IP."""

    def __init__(self, storage_uri: str, limit: str) -> None:
        self.window = _Window(_storage(storage_uri), limit)

    def admit(self, scope: str, identifier: str) -> bool:
        """Count one attempt and say whether it may go on to a password check, atomically.

        Refused (False) when the budget is spent; nothing is counted then.
        """
        return self.window.hit(_key(scope, identifier))

    def give_back(self, scope: str, identifier: str) -> None:
        """Uncount an admitted attempt that was no guess (right password, legacy outage)."""
        self.window.refund(_key(scope, identifier))

    def retry_after(self, scope: str, identifier: str) -> int:
        """0 when attempts are allowed, else the seconds until the next one is."""
        return self.window.retry_after(_key(scope, identifier))

    def failed(self, scope: str, identifier: str) -> None:
        """Count one failure after the fact (for checks that are not admitted first)."""
        self.window.hit(_key(scope, identifier))

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
    """What one send took from which budgets, to give it all back if the send fails."""

    taken: tuple[tuple[str, str], ...] = field(default_factory=tuple)


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
        storage = _storage(storage_uri)
        self.windows = {"identifier": _Window(storage, per_identifier),
                        "device": _Window(storage, per_identifier),
                        "ip": _Window(storage, per_ip),
                        "session": _Window(storage, per_session)}

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
        taken: list[tuple[str, str]] = []
        for pool, key in self._pools(scope, identifier, who or Requester()):
            if not self.windows[pool].hit(key):
                self.give_back(Charge(tuple(taken)))
                raise BudgetSpent(self.windows[pool].retry_after(key))
            taken.append((pool, key))
        return Charge(tuple(taken))

    def give_back(self, charge: Charge) -> None:
        """Uncount a send that did not happen (the mail server or the legacy IDP failed)."""
        for pool, key in charge.taken:
            self.windows[pool].refund(key)

    def retry_after(self, scope: str, identifier: str, who: Requester | None = None) -> int:
        """0 when a send would be allowed now, else the seconds to wait (nothing is counted)."""
        waits = [self.windows[pool].retry_after(key)
                 for pool, key in self._pools(scope, identifier, who or Requester())]
        return max(waits, default=0)


def throttle() -> FailureThrottle:
    """The app's password-attempt throttle."""
    return current_app.extensions["ferry.throttle"]
