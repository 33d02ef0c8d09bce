"""The circuit breaker and the call rate limit in front of every legacy IDP."""

from __future__ import annotations

import pytest

from connectors import InvalidCredentials, LegacyUnavailable, breaker
from connectors.guard import CallGuard


def failing():
    raise LegacyUnavailable("down")


def refusing():
    raise InvalidCredentials()


def test_breaker_opens_after_consecutive_failures_and_answers_at_once():
    guard = CallGuard("idp", failures=3, reset=60, rate_limit=None, storage_uri="memory://")
    calls = []

    def counted():
        calls.append(1)
        failing()

    for _ in range(3):
        with pytest.raises(LegacyUnavailable):
            guard.call(counted)
    assert guard.state == "open"
    with pytest.raises(LegacyUnavailable, match="circuit breaker open"):
        guard.call(counted)
    assert len(calls) == 3, "an open breaker still called the legacy IDP"


def test_wrong_passwords_never_open_the_breaker():
    guard = CallGuard("idp", failures=2, reset=60, rate_limit=None, storage_uri="memory://")
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            guard.call(refusing)
    assert guard.state == "closed"


class _Clock:
    """``time`` as connectors/breaker.py sees it: a monotonic clock the test moves, so a slow
    machine cannot turn "open" into "half open" between two lines."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_half_open_trial_closes_or_reopens(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(breaker, "time", clock)
    guard = CallGuard("idp", failures=1, reset=30, rate_limit=None, storage_uri="memory://")
    with pytest.raises(LegacyUnavailable):
        guard.call(failing)
    assert guard.state == "open"
    clock.now += 31
    assert guard.state == "half_open"
    with pytest.raises(LegacyUnavailable, match="down"):
        guard.call(failing)  # the trial call reached the IDP and failed
    assert guard.state == "open"
    clock.now += 29
    assert guard.state == "open"  # the reset counts from the failed trial
    clock.now += 2
    assert guard.call(lambda: "ok") == "ok"
    assert guard.state == "closed"


def test_rate_limit_refuses_calls_beyond_it():
    guard = CallGuard("idp", failures=5, reset=60, rate_limit="3 per minute",
                      storage_uri="memory://")
    for _ in range(3):
        assert guard.call(lambda: "ok") == "ok"
    with pytest.raises(LegacyUnavailable, match="call limit"):
        guard.call(lambda: "ok")


def test_an_unavailable_answer_that_is_no_outage_does_not_open_the_breaker():
    guard = CallGuard("idp", failures=2, reset=60, rate_limit=None, storage_uri="memory://")

    def cannot_migrate_this_way():
        raise LegacyUnavailable("MFA required over ROPC", outage=False)

    for _ in range(4):
        with pytest.raises(LegacyUnavailable):
            guard.call(cannot_migrate_this_way)
    assert guard.state == "closed"
