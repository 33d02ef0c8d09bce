"""The migration dashboard as one object: the figures of :mod:`lifecycle.stats`, the forecasts
of :mod:`lifecycle.forecast` and the charts of :mod:`lifecycle.charts`, labelled for people
(texts through gettext, numbers and dates formatted for the request's locale).

:func:`build` is what the portal's view calls; each chart's description says its figures in
words, and the page lays the same figures out as tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import format_date, format_decimal, format_number, format_percent
from flask_babel import gettext as _
from markupsafe import Markup

from lifecycle import charts, forecast, stats
from lifecycle.charts import Row, Segment, Series

#: The shares of the roster the forecast is asked about.
SHARES = (0.95, 0.99)
#: Days of projection drawn at most (a forecast further out is said in words).
PROJECTION_DAYS = 365


@dataclass(frozen=True)
class Dashboard:
    """Everything the page shows."""

    now: datetime
    overall: stats.ConnectorProgress
    by_connector: list[stats.ConnectorProgress]
    per_day: list[tuple[date, int]]
    failures: list[stats.FailureCount]
    latency: list[stats.Latency]
    funnel: stats.Funnel
    forecasts: list[forecast.Forecast]
    history: list[tuple[date, int]]
    readiness: stats.Readiness
    modes: list[stats.ConnectorMode]
    charts: dict[str, Markup]


def build(now: datetime) -> Dashboard:
    """Compute the dashboard at ``now`` (naive UTC)."""
    today = now.date()
    overall, by_connector = stats.progress()
    first = today - timedelta(days=max(stats.PERIOD_DAYS, forecast.WINDOW + 1) - 1)
    days = stats.migrations_per_day(first, today)
    per_day = days[-stats.PERIOD_DAYS:]
    # Complete days only: the remaining count at the end of yesterday, and every day before.
    complete, today_count = days[:-1], days[-1][1]
    history = forecast.remaining_history([day for day, _count in complete],
                                         [count for _day, count in complete],
                                         overall.remaining + today_count)
    started = stats.first_migration_day()
    forecasts = [forecast.forecast(history, overall.total, share, started=started)
                 for share in SHARES]
    failures = stats.failures(now - timedelta(days=stats.PERIOD_DAYS))
    latency = stats.latency(now - timedelta(days=stats.LATENCY_DAYS))
    funnel = stats.funnel()
    return Dashboard(
        now=now, overall=overall, by_connector=by_connector, per_day=per_day, failures=failures,
        latency=latency, funnel=funnel, forecasts=forecasts, history=history,
        readiness=stats.readiness(now),
        modes=stats.connector_modes(now - timedelta(days=stats.LEGACY_DAYS)),
        charts={"progress": progress_chart(overall, by_connector),
                "per_day": per_day_chart(per_day), "failures": failures_chart(failures),
                "latency": latency_chart(latency), "funnel": funnel_chart(funnel),
                "forecast": forecast_chart(history, overall.total, forecasts)})


def progress_chart(overall: stats.ConnectorProgress,
                   by_connector: list[stats.ConnectorProgress]) -> Markup:
    """Migrated and remaining entries as stacked bars, overall first, then by connector."""
    rows = [Row(_("All connectors") if not row.connector else row.connector,
                (Segment(row.migrated, "migrated"), Segment(row.remaining, "remaining")),
                format_percent(row.share))
            for row in ([overall] if by_connector else []) + by_connector]
    parts = "; ".join(_("%(connector)s: %(migrated)s migrated, %(remaining)s remaining",
                        connector=row.connector, migrated=format_number(row.migrated),
                        remaining=format_number(row.remaining)) for row in by_connector)
    desc = _("%(migrated)s of %(total)s roster entries migrated (%(share)s).",
             migrated=format_number(overall.migrated), total=format_number(overall.total),
             share=format_percent(overall.share)) + (" " + parts if parts else "")
    return charts.bar_chart("chart-progress", _("Migrated and remaining, by connector"), desc,
                            rows, legend=[("migrated", _("Migrated")), ("remaining", _("Remaining"))])


def per_day_chart(per_day: list[tuple[date, int]]) -> Markup:
    """Migrations per day as columns."""
    total = sum(count for _day, count in per_day)
    busiest = max(per_day, key=lambda item: item[1]) if per_day else None
    desc = _("%(total)s migrations in the last %(days)s days.", total=format_number(total),
             days=format_number(len(per_day)))
    if busiest and busiest[1]:
        desc += " " + _("The busiest day was %(day)s with %(count)s.",
                        day=format_date(busiest[0], "long"), count=format_number(busiest[1]))
    return charts.column_chart("chart-per-day", _("Migrations per day"), desc,
                               [(format_date(day, "d MMM"), count) for day, count in per_day],
                               number=format_number)


def failures_chart(failures: list[stats.FailureCount]) -> Markup:
    """Failures by reason as bars, most first."""
    desc = "; ".join(f"{row.label}: {format_number(row.count)}" for row in failures) or \
        _("No failure in the period.")
    return charts.bar_chart("chart-failures", _("Failures by reason"), desc,
                            [Row(row.label, (Segment(row.count, "failure"),), format_number(row.count))
                             for row in failures])


def milliseconds(value: float) -> str:
    """A duration in milliseconds, for people (``1,234.5 ms``)."""
    return _("%(ms)s ms", ms=format_decimal(value, format="#,##0.#"))


def latency_chart(latency: list[stats.Latency]) -> Markup:
    """p50 and p95 of each connector's legacy calls, grouped bars."""
    desc = "; ".join(_("%(connector)s: p50 %(p50)s, p95 %(p95)s over %(calls)s calls",
                       connector=row.connector, p50=milliseconds(row.p50), p95=milliseconds(row.p95),
                       calls=format_number(row.calls)) for row in latency) or \
        _("No legacy call in the period.")
    rows = [Row(row.connector, (Segment(row.p50, "p50", _("p50 %(ms)s", ms=milliseconds(row.p50))),
                                Segment(row.p95, "p95", _("p95 %(ms)s", ms=milliseconds(row.p95)))))
            for row in latency]
    return charts.bar_chart("chart-latency", _("Legacy latency, p50 and p95"), desc, rows,
                            stacked=False, legend=[("p50", _("p50 (median)")), ("p95", _("p95"))])


def funnel_steps(funnel: stats.Funnel) -> list[tuple[str, int]]:
    """The funnel's steps, labelled, in order."""
    return [(_("Migrated users"), funnel.migrated), (_("Offered an authenticator"), funnel.offered),
            (_("Passkey"), funnel.passkey), (_("PIN"), funnel.pin), (_("Skipped"), funnel.skipped),
            (_("To be reminded"), funnel.reminded)]


def funnel_chart(funnel: stats.Funnel) -> Markup:
    """The enrollment funnel, bars centred, each with its share of the migrated users."""
    steps = funnel_steps(funnel)

    def note(count: int) -> str:
        share = format_percent(count / funnel.migrated) if funnel.migrated else "–"
        return f"{format_number(count)} ({share})"

    desc = "; ".join(f"{label}: {note(count)}" for label, count in steps)
    return charts.bar_chart("chart-funnel", _("Authenticator enrollment after migration"), desc,
                            [Row(label, (Segment(count, "funnel"),), note(count))
                             for label, count in steps], centred=True, maximum=funnel.migrated)


def forecast_text(answer: forecast.Forecast) -> str:
    """A forecast in one sentence."""
    share = format_percent(answer.share)
    if answer.status == "forecast":
        if answer.latest is None:
            return _("%(share)s around %(date)s; not before %(earliest)s, and the pace is too "
                     "uncertain to name a latest date.", share=share,
                     date=format_date(answer.expected, "long"),
                     earliest=format_date(answer.earliest, "long"))
        return _("%(share)s around %(date)s (between %(earliest)s and %(latest)s).", share=share,
                 date=format_date(answer.expected, "long"),
                 earliest=format_date(answer.earliest, "long"),
                 latest=format_date(answer.latest, "long"))
    return {
        "reached": _("%(share)s reached (by %(date)s).", share=share,
                     date=format_date(answer.reached_on, "long") if answer.reached_on else ""),
        "not_enough_data": _("%(share)s: not enough data yet (at least %(days)s days of "
                             "migrations are needed).", share=share,
                             days=format_number(forecast.MIN_DAYS)),
        "no_progress": _("%(share)s: no date, the migration is not progressing.", share=share),
        "no_roster": _("%(share)s: no date, the roster is empty.", share=share),
        "beyond": _("%(share)s: more than ten years away at the current pace.", share=share),
    }[answer.status]


def pace_text(forecasts: list[forecast.Forecast]) -> str:
    """What the forecast was fitted on, and the pace it found, in one or two sentences."""
    fit = next((answer.fit for answer in forecasts if answer.fit is not None), None)
    if fit is None or fit.rate <= 0:
        return _("The forecast fits the pace of the last %(days)s days: the remaining users "
                 "decaying at a steady rate.", days=format_number(forecast.WINDOW))
    return _("Fitted on the last %(days)s days: about %(rate)s of the remaining users migrate each "
             "day (half of them in %(half)s days). The dates assume that pace holds; the range "
             "comes from how well the pace fits the days.", days=format_number(fit.days),
             rate=format_percent(1 - math.exp(-fit.rate), "#,##0.0%"),
             half=format_decimal(fit.half_life or 0, format="#,##0.#"))


def forecast_chart(history: list[tuple[date, int]], total: int,
                   forecasts: list[forecast.Forecast]) -> Markup:
    """Remaining entries over the last days, and the fitted decay projected onward."""
    if not history:
        history = []
    end = history[-1][0] if history else date.today()
    points = tuple((float((day - end).days), float(remaining)) for day, remaining in history)
    series = [Series("remaining", _("Remaining"), points)]
    fit = next((answer.fit for answer in forecasts if answer.fit is not None), None)
    marks = []
    if fit is not None and fit.rate > 0:
        horizon = min(max(((answer.expected.date() - end).days for answer in forecasts
                           if answer.expected), default=60), PROJECTION_DAYS)
        series.append(Series("forecast", _("Forecast"), tuple(
            (float(day), fit.last_remaining * math.exp(-fit.rate * day))
            for day in range(0, horizon + 2, max(horizon // 60, 1)))))
        marks = [(float((answer.expected.date() - end).days),
                  f"{format_percent(answer.share)} {format_date(answer.expected, 'd MMM')}")
                 for answer in forecasts if answer.expected
                 and (answer.expected.date() - end).days <= PROJECTION_DAYS]
    xs = [x for line in series for x, _y in line.points] or [0.0]
    x_ticks = [(x, format_date(end + timedelta(days=int(x)), "d MMM"))
               for x in _spread(min(xs), max(xs))]
    y_ticks = [(float(v), label) for v, label in charts.round_ticks(float(total), format_number)]
    desc = " ".join(forecast_text(answer) for answer in forecasts)
    return charts.line_chart("chart-forecast", _("Remaining users and the forecast"), desc,
                             series, x_ticks=x_ticks, y_ticks=y_ticks, marks=marks)


def _spread(low: float, high: float, count: int = 4) -> list[float]:
    """``count`` evenly spread whole x values from ``low`` to ``high``."""
    if high <= low:
        return [low]
    return sorted({round(low + (high - low) * n / (count - 1)) for n in range(count)})
