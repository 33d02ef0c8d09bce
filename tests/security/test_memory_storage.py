"""``memory://`` is limits' MemoryStorage without a timer thread per hit: it counts the same,
forgets expired counts when read, and sweeps them on a later hit."""

from __future__ import annotations

import threading

import limits.storage.memory
from limits import parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from security import memory_storage
from security.memory_storage import SweptMemoryStorage


def _timers() -> int:
    return sum(isinstance(thread, threading.Timer) for thread in threading.enumerate())


def test_memory_uri_gives_the_swept_storage():
    assert type(storage_from_string("memory://")) is SweptMemoryStorage


def test_a_hit_starts_no_thread_where_the_library_s_own_starts_one():
    library = MemoryStorage()
    MovingWindowRateLimiter(library).hit(parse("5 per minute"), "k")
    assert library.timer.is_alive()  # why this module exists: a Timer per hit
    library.timer.cancel()
    library.timer.join()
    before = _timers()
    swept = SweptMemoryStorage()
    limiter = MovingWindowRateLimiter(swept)
    for _ in range(50):
        limiter.hit(parse("100 per minute"), "k")
    assert _timers() == before and not swept.timer.is_alive()


class _Clock:
    """``time`` as limits' memory storage sees it: a wall clock the test moves."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now


def test_it_limits_like_the_library_and_sweeps_what_expired(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(limits.storage.memory, "time", clock)  # that module's clock only
    monkeypatch.setattr(memory_storage, "SWEEP_EVERY", 0.0)
    storage = SweptMemoryStorage()
    moving, fixed = MovingWindowRateLimiter(storage), FixedWindowRateLimiter(storage)
    item = parse("2 per 1 minute")
    assert [moving.hit(item, "a") for _ in range(3)] == [True, True, False]
    assert [fixed.hit(item, "b") for _ in range(3)] == [True, True, False]
    counted, listed = item.key_for("b"), item.key_for("a")
    assert counted in storage.storage and listed in storage.events
    clock.now += 61  # the windows end
    fixed.hit(parse("1 per 1 hour"), "c")  # any later hit sweeps what expired
    assert counted not in storage.storage and counted not in storage.expirations
    assert not storage.events[listed]  # the library keeps the key, with no entries
    assert moving.hit(item, "a") and fixed.hit(item, "b")  # room again
