"""The migration's lifecycle: the roster of legacy users, the record of legacy calls, and (in
modules of this package) what the dashboard, ``/metrics`` and the cut-over are computed from.

Everything here reads and writes :mod:`models.lifecycle` through the functions of
:mod:`lifecycle.roster` and :mod:`lifecycle.calls`; the rest of Ferry calls only those.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Record legacy calls from now on (the dashboard's latency) and register the commands."""
    from lifecycle import calls, cli, metrics

    calls.install()
    cli.init_app(app)
    metrics.install(app)  # /metrics: legacy call latency; the multiprocess folder is checked
