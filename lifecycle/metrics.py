"""Ferry's Prometheus metrics: what ``/metrics`` answers (see "Metrics" in docs/operations.md).

Two kinds of figures, kept apart on purpose:

* **Counted as they happen** in the process that saw them: sign-ins by method, migrations by
  connector, failures by connector and reason (all from the audit trail: :func:`count`, called
  by :func:`security.audit.record` for every event), and the latency of every guarded legacy
  call (:func:`observe_call`, an observer of :mod:`connectors.guard`). Under gunicorn with
  ``PROMETHEUS_MULTIPROC_DIR`` set, prometheus_client keeps them in memory-mapped files of that
  folder, and a scrape adds up every worker's files; without it they live in this process.
* **Read at scrape time**, never stored: the roster (migrated and remaining users by connector,
  one ``GROUP BY`` on ``roster_entry``) and each connector's breaker state. They are collected
  once per scrape by whichever worker answers, so they are never multiplied by the workers, and
  they are the same on every server: the database's and the breakers' own figures.

The mapping from audit events to metrics lives here (:data:`SIGNIN_METHODS`,
:data:`MIGRATION_EVENTS`, :data:`FAILURE_REASONS`). Nothing here may fail a sign-in: a hook
that raises is logged and swallowed.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import peewee
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.process_collector import ProcessCollector

from lifecycle.modes import MODES
from models import RosterEntry
from settings.errors import ConfigError

log = logging.getLogger(__name__)

#: The folder of multiprocess mode, read once at import as prometheus_client itself does (its
#: value class is chosen when it is imported): empty means one process, one registry.
MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
#: Seconds: a legacy call ends within its connector's ``deadline`` (at most 25 s).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0)
#: The ``connector`` label of failures Ferry decided itself (local password, passkey, PIN, code).
LOCAL = "local"
BREAKER_STATES = ("closed", "open", "half_open")

# Counted metrics live in a registry of their own (never prometheus_client's global one), which
# a scrape reads directly in one process and ignores in multiprocess mode, where the files of
# MULTIPROCESS_DIR hold every worker's values instead.
_COUNTED = CollectorRegistry()
SIGNINS = Counter("ferry_signins", "Completed sign-ins by how the user proved who they are.",
                  ["method"], registry=_COUNTED)
MIGRATIONS = Counter("ferry_migrations", "Users who came over from a legacy IDP (created or "
                     "linked to an existing account), by connector.", ["connector"],
                     registry=_COUNTED)
FAILURES = Counter("ferry_signin_failures", "Failed sign-in attempts by connector (local: "
                   "Ferry's own checks) and reason.", ["connector", "reason"], registry=_COUNTED)
SHADOW = Counter("ferry_shadow_checks", "Background checks of Ferry's answer at a connector in "
                 "mode shadow, by result (match, mismatch, unavailable, skipped).",
                 ["connector", "result"], registry=_COUNTED)
LEGACY_SECONDS = Histogram("ferry_legacy_call_seconds", "Guarded calls to a legacy IDP: "
                           "seconds by connector, operation and outcome (answer, unavailable, "
                           "refused).", ["connector", "operation", "outcome"],
                           buckets=LATENCY_BUCKETS, registry=_COUNTED)

#: Audit event -> ``ferry_signins_total{method}``.
SIGNIN_METHODS = {"signin.password": "password", "signin.passkey": "passkey",
                  "signin.pin": "pin", "signin.otp": "otp"}
#: Audit events counted by ``ferry_migrations_total{connector}``.
MIGRATION_EVENTS = frozenset({"user.migrated", "user.linked"})
#: Audit events counted by ``ferry_shadow_checks_total{connector,result}`` (lifecycle.shadow).
SHADOW_RESULTS = frozenset({"shadow.match", "shadow.mismatch", "shadow.unavailable",
                            "shadow.skipped"})
#: Audit event -> ``ferry_signin_failures_total{reason}``; ``None``: the event's own ``reason``
#: detail (``signin.failed``: ``wrong_password``, ``user_disabled``, ``pin_wrong``...), and for
#: ``legacy.blocked`` the kind of block is appended (``blocked_locked``). ``legacy.not_found``
#: is no failure: the next connector may know the user.
FAILURE_REASONS: dict[str, str | None] = {
    "signin.failed": None,
    "signin.throttled": "throttled",
    "otp.failed": "wrong_code",
    "legacy.refused": "wrong_password",
    "legacy.unavailable": "legacy_unavailable",
    "legacy.mfa_failed": "mfa_failed",
    "legacy.blocked": "blocked",
    "legacy.code_failed": "wrong_code",
    "legacy.code_throttled": "throttled",
    "legacy.user_data_invalid": "user_data_invalid",
    "federation.refused": "federation_refused",
    "federation.rejected": "federation_rejected",
    "user.conflict": "conflict",
    "user.closed": "account_deleted",
}
_LABEL_VALUE = re.compile(r"[a-z0-9_]{1,48}")


def _bounded(value: Any, fallback: str) -> str:
    """A label value from a fixed vocabulary: anything free-form becomes ``fallback``, so a
    detail can never grow the number of time series without bound."""
    text = str(value or "").strip().lower().replace("-", "_").replace(".", "_")
    return text if _LABEL_VALUE.fullmatch(text) else fallback


def _connector_label(connector: str | None) -> str:
    return connector[:100] if connector else LOCAL


def count(event: str, connector: str | None, details: Mapping[str, Any]) -> None:
    """Count one audit event (called by :func:`security.audit.record`); never raises."""
    try:
        _count(event, connector, details)
    except Exception:  # noqa: BLE001 - a metric must never fail a sign-in
        log.exception("metrics: counting audit event %s failed", event)


def _count(event: str, connector: str | None, details: Mapping[str, Any]) -> None:
    if event in SIGNIN_METHODS:
        SIGNINS.labels(SIGNIN_METHODS[event]).inc()
    elif event == "legacy.verified":
        SIGNINS.labels(_legacy_method(connector, details)).inc()
    elif event in MIGRATION_EVENTS:
        MIGRATIONS.labels(_connector_label(connector)).inc()
    elif event in SHADOW_RESULTS:
        SHADOW.labels(_connector_label(connector), event.partition(".")[2]).inc()
    elif event in FAILURE_REASONS:
        reason = FAILURE_REASONS[event]
        if reason is None:
            reason = _bounded(details.get("reason"), "other")
        elif event == "legacy.blocked":
            reason = "blocked_" + _bounded(details.get("reason"), "other")
        FAILURES.labels(_connector_label(connector), reason[:60]).inc()


def _legacy_method(connector: str | None, details: Mapping[str, Any]) -> str:
    """How a legacy IDP proved the user: ``legacy_otp``, ``federation`` or ``legacy_password``."""
    if details.get("method") == "otp":
        return "legacy_otp"
    from flask import current_app, has_app_context

    from connectors import RedirectConnector

    if connector and has_app_context():
        instance = current_app.extensions.get("ferry.connectors", {}).get(connector)
        if isinstance(instance, RedirectConnector):
            return "federation"
    return "legacy_password"


def observe_call(connector: str, operation: str, outcome: str, seconds: float) -> None:
    """Time one guarded legacy call (an observer of :data:`connectors.guard.OBSERVERS`)."""
    LEGACY_SECONDS.labels(connector[:100], operation[:64], outcome).observe(max(0.0, seconds))


def install(app: Any) -> None:
    """Time legacy calls from now on; in multiprocess mode, check the folder at start-up."""
    from connectors.guard import observe

    if MULTIPROCESS_DIR and not Path(MULTIPROCESS_DIR).is_dir():
        raise ConfigError([f"PROMETHEUS_MULTIPROC_DIR: {MULTIPROCESS_DIR!r} is not a folder "
                           "(create it empty before gunicorn starts)"], "metrics")
    observe(observe_call)


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn's ``child_exit`` hook: forget a dead worker's live gauges (multiprocess mode).

    In a gunicorn configuration file (``gunicorn -c gunicorn.conf.py``)::

        from lifecycle.metrics import child_exit  # noqa: F401

    Ferry keeps no live gauges itself (roster and breakers are read at scrape time), so this
    only matters for gauges a plug-in adds; counters of a dead worker are kept, as they must be.
    """
    if MULTIPROCESS_DIR:
        mark_process_dead(worker.pid, MULTIPROCESS_DIR)


# -- read at scrape time ---------------------------------------------------------------------
class RosterCollector:
    """``ferry_roster_users{connector,state}``: one ``GROUP BY`` of the roster per scrape.

    Every configured connector appears, with zeros before its roster is filled; a connector no
    longer configured still appears while its entries remain.
    """

    def __init__(self, connectors: Iterable[str]) -> None:
        self.connectors = list(connectors)

    def collect(self) -> Iterator[Metric]:
        """Yield the roster family (nothing, and a logged error, if the database fails)."""
        counts = {(name, state): 0 for name in self.connectors for state in ("migrated", "remaining")}
        migrated = RosterEntry.user_id.is_null(False)
        try:
            rows = (RosterEntry.select(RosterEntry.connector, migrated.alias("migrated"),
                                       peewee.fn.COUNT(RosterEntry.id).alias("users"))
                    .group_by(RosterEntry.connector, migrated).tuples())
            for connector, is_migrated, users in rows:
                counts[(connector, "migrated" if is_migrated else "remaining")] = int(users)
                counts.setdefault((connector, "remaining" if is_migrated else "migrated"), 0)
        except (peewee.DatabaseError, peewee.InterfaceError):
            log.exception("metrics: the roster could not be read")
            return
        family = GaugeMetricFamily("ferry_roster_users", "Users of each connector's roster "
                                   "(the legacy side's users): migrated or remaining. Read from "
                                   "the database at each scrape: the same on every server.",
                                   labels=["connector", "state"])
        for (connector, state), users in sorted(counts.items()):
            family.add_metric([connector, state], users)
        yield family


class BreakerCollector:
    """``ferry_connector_breaker_state{connector,state}``: 1 for each breaker's current state.

    Read from the connectors running now (the live store may have rebuilt them since start).
    """

    def __init__(self, connectors: Mapping[str, Any]) -> None:
        self.connectors = dict(connectors)

    def collect(self) -> Iterator[Metric]:
        """Yield the breaker family; a breaker that cannot be read is left out (and logged)."""
        from connectors.breaker import state

        family = GaugeMetricFamily("ferry_connector_breaker_state", "Each connector's circuit "
                                   "breaker: 1 for its current state (closed, open, half_open), "
                                   "0 for the others.", labels=["connector", "state"])
        for name, connector in sorted(self.connectors.items()):
            try:
                current = state(connector)
            except Exception:  # noqa: BLE001 - one unreadable breaker must not hide the rest
                log.exception("metrics: the breaker of %s could not be read", name)
                continue
            for candidate in BREAKER_STATES:
                family.add_metric([name, candidate], 1.0 if candidate == current else 0.0)
        yield family
        modes = GaugeMetricFamily("ferry_connector_mode", "Each connector's mode: 1 for its "
                                  "current one (migrate, sync, shadow, closed), 0 for the others.",
                                  labels=["connector", "mode"])
        for name, connector in sorted(self.connectors.items()):
            for mode in MODES:
                modes.add_metric([name, mode], 1.0 if connector.settings.migration == mode else 0.0)
        yield modes


class WorkerProcessCollector:
    """The usual ``process_*`` metrics of every live worker, labelled ``pid`` (multiprocess mode).

    prometheus_client's own process collector reports only the process that answers the scrape,
    which under gunicorn is a different worker each time. The workers are those with files in
    the multiprocess folder that still run beside this one (the same parent), and this one.
    """

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def pids(self) -> list[int]:
        """This process and its live sibling workers known to the multiprocess folder."""
        me, parent = os.getpid(), os.getppid()
        found = {me}
        for path in Path(self.folder).glob("*.db"):
            digits = path.stem.rpartition("_")[2]
            if digits.isdigit() and parent != 1 and _parent_of(int(digits)) == parent:
                found.add(int(digits))
        return sorted(found)

    def collect(self) -> Iterator[Metric]:
        """Yield one family per process metric, one sample per worker."""
        families: dict[str, Metric] = {}
        for pid in self.pids():
            collector = ProcessCollector(pid=lambda pid=pid: str(pid), registry=None)
            for family in collector.collect():
                merged = families.setdefault(family.name, Metric(family.name,
                                                                 family.documentation,
                                                                 family.type))
                for sample in family.samples:
                    merged.add_sample(sample.name, {**sample.labels, "pid": str(pid)},
                                      sample.value)
        yield from families.values()


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None  # gone
    return int(stat.rsplit(b")", 1)[1].split()[1])


class _Scrape:
    """The collectors of one scrape, read in turn (what ``generate_latest`` needs)."""

    def __init__(self, *collectors: Any) -> None:
        self.collectors = collectors

    def collect(self) -> Iterator[Metric]:
        """Every family of every collector."""
        for collector in self.collectors:
            yield from collector.collect()


def render(accept: str | None, connectors: Mapping[str, Any]) -> tuple[bytes, str]:
    """This scrape's exposition, in the format ``accept`` asks for, and its content type.

    ``connectors``: the connector instances running now, by name (for the roster's zeros and
    the breakers). Must run with a database connection (the roster is read from it).
    """
    if MULTIPROCESS_DIR:
        counted: Any = CollectorRegistry()
        MultiProcessCollector(counted, MULTIPROCESS_DIR)
        process: Iterable[Any] = (WorkerProcessCollector(MULTIPROCESS_DIR),)
    else:
        counted, process = _COUNTED, (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR)
    encoder, content_type = choose_encoder(accept or "")
    scrape = _Scrape(counted, RosterCollector(connectors), BreakerCollector(connectors), *process)
    return encoder(scrape), content_type
