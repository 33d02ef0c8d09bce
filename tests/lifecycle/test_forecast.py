"""The forecast on synthetic histories with a known answer: exactly exponential decay gives the
exact date and a zero-width interval; noise widens the interval around the true date; too
little history, no progress, a share already reached and an empty roster are said as such."""

from __future__ import annotations

import math
import random
from datetime import date, datetime, timedelta

import pytest

from lifecycle.forecast import (
    HORIZON_DAYS,
    MIN_DAYS,
    fit_decay,
    forecast,
    remaining_history,
)

START = date(2026, 11, 1)


def decay(total: float, rate: float, days: int, start: date = START) -> list[tuple[date, float]]:
    """Remaining ``total·exp(-rate·d)`` at the end of days 0..days-1."""
    return [(start + timedelta(days=d), total * math.exp(-rate * d)) for d in range(days)]


def test_exact_exponential_decay_gives_the_exact_date():
    history = decay(1000, 0.05, 28)
    # 95 %: 50 remaining. From 1000 at the end of day 0: exp(-0.05 t) = 0.05, t = ln 20 / 0.05.
    truth = datetime(2026, 11, 2) + timedelta(days=math.log(20) / 0.05)
    answer = forecast(history, total=1000, share=0.95)
    assert answer.status == "forecast"
    assert abs((answer.expected - truth).total_seconds()) < 1
    assert abs((answer.earliest - truth).total_seconds()) < 1
    assert abs((answer.latest - truth).total_seconds()) < 1
    assert answer.fit.rate == pytest.approx(0.05)
    assert answer.fit.half_life == pytest.approx(math.log(2) / 0.05)
    ninety_nine = forecast(history, total=1000, share=0.99)
    assert abs((ninety_nine.expected - (datetime(2026, 11, 2) + timedelta(days=math.log(100) / 0.05)))
               .total_seconds()) < 1


def test_only_the_window_counts_the_current_rate():
    # Fast at first, then ten times slower for the last 28 days: the slow rate is the current one.
    fast = decay(1000, 0.2, 10)
    slow = decay(fast[-1][1] * math.exp(-0.02), 0.02, 28, start=fast[-1][0] + timedelta(days=1))
    answer = forecast(fast + slow, total=1000, share=0.99)
    assert answer.fit.rate == pytest.approx(0.02)
    last_day, last = slow[-1]
    truth = datetime.combine(last_day + timedelta(days=1), datetime.min.time()) + \
        timedelta(days=math.log(last / 10) / 0.02)
    assert abs((answer.expected - truth).total_seconds()) < 1


def test_noise_widens_the_interval_around_the_truth():
    rng = random.Random(15)  # noqa: S311 (reproducible noise)
    history = [(day, value * math.exp(rng.gauss(0, 0.02))) for day, value in decay(5000, 0.04, 28)]
    answer = forecast(history, total=5000, share=0.95)
    assert answer.status == "forecast"
    assert answer.earliest < answer.expected < answer.latest
    assert answer.fit.rate == pytest.approx(0.04, rel=0.1)
    assert answer.fit.rate - 1.96 * answer.fit.rate_se < 0.04 < answer.fit.rate + 1.96 * answer.fit.rate_se


def test_an_interval_that_cannot_rule_out_no_progress_is_open_ended():
    rng = random.Random(3)  # noqa: S311
    history = [(day, value * math.exp(rng.gauss(0, 0.05))) for day, value in decay(1000, 0.002, 8)]
    answer = forecast(history, total=1000, share=0.95)
    assert answer.fit.rate - 1.96 * answer.fit.rate_se <= 0
    assert answer.latest is None


def test_quiet_days_before_the_first_migration_are_left_out():
    quiet = [(START - timedelta(days=d), 1000.0) for d in range(20, 0, -1)]
    history = quiet + decay(1000, 0.05, 10)
    assert fit_decay(history).rate < 0.04  # read as a slower rate with the quiet days
    assert fit_decay(history, started=START + timedelta(days=1)).rate == pytest.approx(0.05)


def test_not_enough_data():
    answer = forecast(decay(1000, 0.05, MIN_DAYS - 1), total=1000, share=0.95)
    assert answer.status == "not_enough_data" and answer.expected is None
    long_ago = [(START + timedelta(days=d), 1000.0 - d) for d in range(28)]
    assert forecast(long_ago, 1000, 0.95, started=START + timedelta(days=25)).status == \
        "not_enough_data"
    assert forecast([], 1000, 0.95).status == "not_enough_data"


def test_no_progress():
    flat = [(START + timedelta(days=d), 400.0) for d in range(28)]
    answer = forecast(flat, total=1000, share=0.95)
    assert answer.status == "no_progress" and answer.expected is None
    rising = [(START + timedelta(days=d), 400.0 + d) for d in range(28)]  # an import, say
    assert forecast(rising, total=1000, share=0.95).status == "no_progress"


def test_reached_and_no_roster():
    history = [(START + timedelta(days=d), value) for d, value in enumerate([100, 60, 40, 30])]
    answer = forecast(history, total=1000, share=0.95)
    assert answer.status == "reached" and answer.reached_on == START + timedelta(days=2)  # 40 ≤ 50
    assert forecast(history, total=0, share=0.95).status == "no_roster"


def test_a_date_past_the_horizon_is_not_given():
    answer = forecast(decay(1000, 0.0001, 28), total=1000, share=0.99)
    assert math.log(100) / 0.0001 > HORIZON_DAYS
    assert answer.status == "beyond" and answer.expected is None


def test_remaining_history_is_worked_back_from_now():
    days = [START + timedelta(days=d) for d in range(4)]
    assert remaining_history(days, [5, 0, 3, 2], remaining_at_end=10) == [
        (days[0], 15), (days[1], 15), (days[2], 12), (days[3], 10)]
