"""Portal section: the migration dashboard. How far the migration has come (migrated and
remaining, overall and by connector; migrations per day; the forecast of 95 % and 99 %), what
goes wrong (failures by reason, legacy latency), what users enroll after migrating, and whether
the legacy IdPs can be switched off (the cut-over readiness panel).

Everything is computed by :func:`lifecycle.dashboard.build` from the database at each request;
viewers may read it.
"""

from __future__ import annotations

from flask import render_template
from flask_babel import format_number, format_percent

from blueprints.admin.base import bp
from lifecycle import dashboard, stats
from models import utcnow
from operators.sessions import require


@bp.get("/migration")
@require()
def migration():
    """The migration dashboard."""
    return render_template("admin/migration.html", d=dashboard.build(utcnow()),
                           forecast_text=dashboard.forecast_text, pace_text=dashboard.pace_text,
                           funnel_steps=dashboard.funnel_steps, ms=dashboard.milliseconds,
                           number=format_number, percent=format_percent, stats=stats)
