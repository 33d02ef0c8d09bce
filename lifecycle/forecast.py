"""When will 95 % (or 99 %) of the roster have migrated? Pure functions, no database.

The model. In a just-in-time migration a user migrates the first time they sign in, so each day
a roughly constant share of the users who are *still remaining* turns up: the remaining count
decays exponentially, ``R(t) = R(0) · exp(-k·t)``. (A constant number per day would be the
wrong model: it runs out of users at a fixed date, while in practice the last users trickle in.)

The fit. ``log R`` is a straight line in ``t``, so ``k`` is the slope of an ordinary least
squares fit of ``log R(d)`` on the day number ``d`` over the last days of history (see
:data:`WINDOW`), starting no earlier than the day of the first migration. The forecast starts
from the last point of the history (the remaining count is known exactly there, only the rate
is uncertain): the target ``(1 - share) · total`` is reached ``log(R_last / target) / k`` days
later.

The uncertainty. The slope's standard error ``se`` (residual variance over ``Σ(d - d̄)²``)
gives the rate interval ``k ± z·se`` (``z`` = 1.96, about 95 % if the residuals were normal and
independent; they are not quite, so read it as "how well the line fits", not as a guarantee).
The fast rate gives the earliest date, the slow one the latest; when ``k - z·se ≤ 0`` the fit
cannot rule out "no progress", and the latest date is open (``None``).

Honest answers. Fewer than :data:`MIN_DAYS` days of history (counted from the day before the
first migration, when there was one): ``not_enough_data``.
No decay over the window (no migration, or a slope ≤ 0): ``no_progress``. The share already
reached: ``reached``. An empty roster: ``no_roster``. A date more than :data:`HORIZON_DAYS`
away is reported as ``beyond`` rather than as a date nobody should plan by.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

#: How many of the latest days of history the fit uses ("the current rate").
WINDOW = 28
#: The fewest days of history (since the first migration) a forecast is made from.
MIN_DAYS = 7
#: The z value of the interval on the rate (two-sided, about 95 %).
Z = 1.96
#: Dates further away than this (ten years) are not given.
HORIZON_DAYS = 3650

Status = Literal["forecast", "reached", "not_enough_data", "no_progress", "no_roster", "beyond"]


@dataclass(frozen=True)
class Fit:
    """The exponential decay fitted to the remaining counts: the rate ``k`` (a day), its
    standard error, the days fitted, and the last point the forecast starts from."""

    rate: float
    rate_se: float
    days: int
    last_day: date
    last_remaining: float

    @property
    def half_life(self) -> float | None:
        """Days for the remaining count to halve at the fitted rate (None without decay)."""
        return math.log(2) / self.rate if self.rate > 0 else None


@dataclass(frozen=True)
class Forecast:
    """When ``share`` of the roster will have migrated: the expected moment and the earliest and
    latest moments of the interval (``latest`` is None when open), or why there is no date."""

    share: float
    status: Status
    expected: datetime | None = None
    earliest: datetime | None = None
    latest: datetime | None = None
    fit: Fit | None = None
    reached_on: date | None = None  # for ``reached``: the first day of the history at or past it


def fit_decay(history: Sequence[tuple[date, float]], window: int = WINDOW,
              started: date | None = None) -> Fit | None:
    """Fit ``R(t) = R(0)·exp(-k·t)`` to the last ``window`` points of ``history``.

    ``history`` is the remaining count at the end of each day, one point a day, oldest first,
    days consecutive. ``started``, the day of the first migration ever: days before the one
    before it (the quiet time before the migration began) are left out, or they would read as
    a slow rate. None when fewer than :data:`MIN_DAYS` points remain or a count is not positive.
    """
    points = list(history[-window:])
    if started is not None:
        points = [point for point in points if point[0] >= started - timedelta(days=1)]
    if len(points) < MIN_DAYS or any(remaining <= 0 for _day, remaining in points):
        return None
    origin = points[0][0]
    xs = [float((day - origin).days) for day, _remaining in points]
    ys = [math.log(remaining) for _day, remaining in points]
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    if sxx == 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sxx
    intercept = mean_y - slope * mean_x
    residual = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
    se = math.sqrt(residual / (n - 2) / sxx) if n > 2 else math.inf
    return Fit(rate=-slope, rate_se=se, days=n, last_day=points[-1][0],
               last_remaining=points[-1][1])


def forecast(history: Sequence[tuple[date, float]], total: int, share: float,
             window: int = WINDOW, started: date | None = None) -> Forecast:
    """When ``share`` (0.95) of a roster of ``total`` entries will have migrated.

    ``history`` and ``started`` as for :func:`fit_decay`; its last point is the remaining count
    now (the end of the last complete day). A moment is the end of that day plus the days the
    decay needs; see the module docstring for the model, the interval and the statuses.
    """
    if total <= 0:
        return Forecast(share, "no_roster")
    target = (1.0 - share) * total
    for day, remaining in history:
        if remaining <= target + 1e-9:
            return Forecast(share, "reached", reached_on=day)
    fit = fit_decay(history, window, started)
    if fit is None:
        return Forecast(share, "not_enough_data")
    if fit.rate <= 0 or math.isclose(fit.rate, 0.0, abs_tol=1e-12):
        return Forecast(share, "no_progress", fit=fit)
    start = datetime.combine(fit.last_day + timedelta(days=1), datetime.min.time())
    needed = math.log(fit.last_remaining / target)  # > 0: not reached yet
    expected = _after(start, needed / fit.rate)
    if expected is None:
        return Forecast(share, "beyond", fit=fit)
    fast, slow = fit.rate + Z * fit.rate_se, fit.rate - Z * fit.rate_se
    earliest = _after(start, needed / fast) if math.isfinite(fast) else start
    latest = _after(start, needed / slow) if slow > 0 else None
    return Forecast(share, "forecast", expected=expected, earliest=earliest, latest=latest, fit=fit)


def _after(start: datetime, days: float) -> datetime | None:
    """``start`` plus ``days``, or None past the horizon."""
    if not math.isfinite(days) or days > HORIZON_DAYS:
        return None
    return start + timedelta(days=days)


def remaining_history(days: Sequence[date], migrated_per_day: Sequence[int],
                      remaining_at_end: int) -> list[tuple[date, int]]:
    """The remaining count at the end of each of ``days`` (consecutive, oldest first), worked
    back from ``remaining_at_end`` (the count at the end of the last day) and the migrations of
    each day (a list as long as ``days``).

    This treats the roster as it is now as if it had been complete all along: an entry imported
    last week counts as remaining before that too, which is what "the share of today's roster"
    means. Worked back, the count at the end of a day is the count at the end plus every
    migration after that day.
    """
    history: list[tuple[date, int]] = []
    after = 0
    for day, count in zip(reversed(days), reversed(migrated_per_day), strict=True):
        history.append((day, remaining_at_end + after))
        after += count
    history.reverse()
    return history
