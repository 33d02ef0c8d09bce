"""Slowing down password guessing against one identifier, whatever the attacker's IP.

Only failures count (a wrong password, a legacy IDP saying no); an unreachable legacy IDP
counts nothing. When the budget is spent the identifier is refused until the window moves
on: the account is never locked for good. Storage is the rate limiter's (memory or Redis), so
every server of a deployment shares the count.
"""

from __future__ import annotations

import hashlib
import math
import time

from flask import current_app
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


class FailureThrottle:
    def __init__(self, storage_uri: str, limit: str) -> None:
        self.item = parse(limit)
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    @staticmethod
    def _key(scope: str, identifier: str) -> str:
        # Hashed so the limiter storage holds no e-mail addresses.
        return hashlib.sha256(f"{scope}\0{identifier}".encode()).hexdigest()

    def retry_after(self, scope: str, identifier: str) -> int:
        """0 when attempts are allowed, else the seconds until the next one is."""
        key = self._key(scope, identifier)
        if self.limiter.test(self.item, key):
            return 0
        reset_at, _remaining = self.limiter.get_window_stats(self.item, key)
        return max(1, math.ceil(reset_at - time.time()))

    def failed(self, scope: str, identifier: str) -> None:
        self.limiter.hit(self.item, self._key(scope, identifier))

    def clear(self, scope: str, identifier: str) -> None:
        self.limiter.clear(self.item, self._key(scope, identifier))


def throttle() -> FailureThrottle:
    return current_app.extensions["ferry.throttle"]
