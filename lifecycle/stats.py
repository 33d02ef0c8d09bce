"""The migration dashboard's figures, each computed by SQL aggregates from the database.

* **Progress** from :class:`~models.RosterEntry`: an entry is migrated when ``user_id`` is set,
  remaining when not. Overall figures add the connectors' entries (a person listed by two
  connectors is two entries: each legacy IdP has to be emptied before it can be switched off).
* **Migrations per day** from ``RosterEntry.migrated_at`` (not from the ``user.migrated`` /
  ``user.linked`` audit events), so the days add up to the roster's migrated count, imports and
  links included, and the audit log's retention does not shorten the history. Entries migrated
  before the first day shown are simply not in the chart.
* **Failures by reason** from :class:`~models.AuditEvent`, mapped by :data:`FAILURES`, the one
  table of which event means which reason.
* **Legacy latency** from :class:`~models.LegacyCall`: p50 and p95 by connector over the last
  :data:`LATENCY_DAYS` days, of the calls that reached the legacy IdP (outcome ``answer`` or
  ``unavailable``; ``refused`` calls were never made, their ~0 ms would flatter the figures).
  Percentiles are nearest-rank, read by ``ORDER BY ms LIMIT 1 OFFSET k``: exact, portable
  between SQLite and PostgreSQL, and no row but the answer leaves the database.
* **Enrollment funnel** among migrated users (distinct ``RosterEntry.user_id``), see
  :func:`funnel` for what "offered" can mean when only answers are stored.
* **Cut-over readiness**: the remaining entries, their last legacy sign-in where the legacy
  side told it, and sign-ins that still needed the legacy IdP in the last :data:`LEGACY_DAYS`
  days, counted two ways (see :func:`legacy_signins`).

Times are naive UTC, as stored; "a day" is a UTC day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import peewee
from flask_babel import lazy_gettext as _l

from models import (
    AuditEvent,
    EnrollmentOffer,
    LegacyCall,
    PasskeyCredential,
    PinCredential,
    RosterEntry,
)

#: Failure reasons shown on the dashboard: reason -> (label, the audit events that mean it).
#: Left out on purpose: ``legacy.not_found`` (a sign-in tries each connector in turn, so "not at
#: this one" is no failure), ``legacy.mfa_required`` (a step, not an end) and ``reauth.failed``
#: (a signed-in user re-proving who they are, not a migration).
FAILURES: dict[str, tuple[str, tuple[str, ...]]] = {
    "wrong_password": (_l("Wrong password, PIN or passkey"), ("signin.failed", "legacy.refused")),
    "wrong_code": (_l("Wrong one-time code"), ("legacy.code_failed", "otp.failed", "otp.dead")),
    "mfa": (_l("MFA not completed"), ("legacy.mfa_failed",)),
    "legacy_unavailable": (_l("Legacy IdP unavailable"), ("legacy.unavailable",)),
    "blocked": (_l("Account blocked at the legacy IdP"), ("legacy.blocked",)),
    "policy": (_l("Password policy not met"), ("password.policy",)),
    "user_data": (_l("Legacy user data invalid"), ("legacy.user_data_invalid",)),
    "conflict": (_l("Conflict with an existing account"), ("user.conflict",)),
    "throttled": (_l("Too many attempts"), ("signin.throttled", "legacy.code_throttled")),
    "federation": (_l("Federation answer rejected"), ("federation.rejected",)),
}
#: Days the failures and the migrations per day cover.
PERIOD_DAYS = 30
#: Days the latency figures cover.
LATENCY_DAYS = 7
#: Days "still hitting the legacy IdP" covers.
LEGACY_DAYS = 7
#: Legacy operations that are a sign-in (a password, an MFA answer, a code, a federation).
SIGNIN_OPERATIONS = ("verify", "complete_mfa", "check_code", "complete")


def _as_date(value) -> date:
    """SQLite's ``DATE()`` is text, PostgreSQL's a date (uncoerced, see below)."""
    if isinstance(value, datetime):
        return value.date()
    return date.fromisoformat(value) if isinstance(value, str) else value


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time())


@dataclass(frozen=True)
class ConnectorProgress:
    """Roster entries of one connector: migrated and remaining."""

    connector: str
    migrated: int
    remaining: int

    @property
    def total(self) -> int:
        """Entries in all."""
        return self.migrated + self.remaining

    @property
    def share(self) -> float:
        """The migrated share, 0 to 1 (0 for an empty roster)."""
        return self.migrated / self.total if self.total else 0.0


def progress() -> tuple[ConnectorProgress, list[ConnectorProgress]]:
    """Migrated and remaining roster entries, overall (connector ``""``) and by connector."""
    rows = (RosterEntry.select(RosterEntry.connector, peewee.fn.COUNT(RosterEntry.id).alias("total"),
                               peewee.fn.COUNT(RosterEntry.user_id).alias("migrated"))
            .group_by(RosterEntry.connector).order_by(RosterEntry.connector).tuples())
    by_connector = [ConnectorProgress(name, migrated, total - migrated)
                    for name, total, migrated in rows]
    overall = ConnectorProgress("", sum(row.migrated for row in by_connector),
                                sum(row.remaining for row in by_connector))
    return overall, by_connector


def migrations_per_day(first: date, last: date) -> list[tuple[date, int]]:
    """Roster entries migrated each UTC day from ``first`` to ``last`` (both included, days
    without a migration as 0)."""
    day = peewee.fn.DATE(RosterEntry.migrated_at).coerce(False)  # not as the column's datetime
    rows = (RosterEntry.select(day.alias("day"), peewee.fn.COUNT(RosterEntry.id))
            .where((RosterEntry.migrated_at >= _midnight(first))
                   & (RosterEntry.migrated_at < _midnight(last + timedelta(days=1))))
            .group_by(day).tuples())
    counts = {_as_date(found): count for found, count in rows}
    return [(first + timedelta(days=n), counts.get(first + timedelta(days=n), 0))
            for n in range((last - first).days + 1)]


def first_migration_day() -> date | None:
    """The UTC day of the earliest migration the roster holds."""
    first = RosterEntry.select(peewee.fn.MIN(RosterEntry.migrated_at)).scalar()
    if isinstance(first, str):  # SQLite hands an aggregate's datetime back as text
        first = datetime.fromisoformat(first)
    return first.date() if first else None


@dataclass(frozen=True)
class FailureCount:
    """How many failures of one reason, overall and by connector (``""``: none named)."""

    reason: str
    label: str
    count: int
    by_connector: dict[str, int] = field(default_factory=dict)


def failures(since: datetime) -> list[FailureCount]:
    """Failures by reason since ``since`` (most first; reasons without one left out)."""
    reason_of = {event: reason for reason, (_label, events) in FAILURES.items() for event in events}
    rows = (AuditEvent.select(AuditEvent.event, AuditEvent.connector,
                              peewee.fn.COUNT(AuditEvent.id))
            .where(AuditEvent.event.in_(list(reason_of)) & (AuditEvent.at >= since))
            .group_by(AuditEvent.event, AuditEvent.connector).tuples())
    found: dict[str, dict[str, int]] = {}
    for event, connector, count in rows:
        by_connector = found.setdefault(reason_of[event], {})
        by_connector[connector or ""] = by_connector.get(connector or "", 0) + count
    counts = [FailureCount(reason, str(FAILURES[reason][0]), sum(by.values()), dict(sorted(by.items())))
              for reason, by in found.items()]
    return sorted(counts, key=lambda row: (-row.count, row.reason))


@dataclass(frozen=True)
class Latency:
    """One connector's legacy calls over the period: how many, how many failed as an outage,
    and the p50 and p95 of their duration in milliseconds."""

    connector: str
    calls: int
    unavailable: int
    p50: float
    p95: float


def percentile_rank(share: float, count: int) -> int:
    """The 0-based row holding the nearest-rank percentile ``share`` (0.95) of ``count`` rows."""
    return max(math.ceil(share * count) - 1, 0)


def latency(since: datetime) -> list[Latency]:
    """p50 and p95 of the calls that reached each legacy IdP since ``since``."""
    made = (LegacyCall.at >= since) & (LegacyCall.outcome != "refused")
    rows = (LegacyCall.select(LegacyCall.connector, peewee.fn.COUNT(LegacyCall.id),
                              peewee.fn.SUM(peewee.Case(None, [(LegacyCall.outcome == "unavailable", 1)], 0)))
            .where(made).group_by(LegacyCall.connector).order_by(LegacyCall.connector).tuples())
    result = []
    for connector, calls, unavailable in rows:
        def nth(share: float, connector: str = connector, calls: int = calls) -> float:
            return (LegacyCall.select(LegacyCall.ms).where(made & (LegacyCall.connector == connector))
                    .order_by(LegacyCall.ms).offset(percentile_rank(share, calls)).limit(1).scalar())
        result.append(Latency(connector, calls, int(unavailable or 0), nth(0.50), nth(0.95)))
    return result


@dataclass(frozen=True)
class Funnel:
    """Authenticator enrollment among migrated users (see :func:`funnel`)."""

    migrated: int
    offered: int
    passkey: int
    pin: int
    skipped: int
    reminded: int


def funnel() -> Funnel:
    """Migrated users, and of them: offered, with a passkey, with a PIN, skipped, reminded.

    The database keeps an offer only by its answer, so "offered" is a user who answered one: a
    passkey or PIN registered, or a "Not now" (an :class:`~models.EnrollmentOffer` row); an offer
    left without an answer leaves no trace. "Skipped": said "Not now" and has neither passkey
    nor PIN. "Reminded": said "Not now" and will be asked again (``ask_after`` set). A user with
    a passkey and a PIN counts in both.
    """
    migrated = RosterEntry.user_id.is_null(False)
    passkeys = PasskeyCredential.select(PasskeyCredential.user)
    pins = PinCredential.select(PinCredential.user)
    declined = EnrollmentOffer.select(EnrollmentOffer.user).where(EnrollmentOffer.declined > 0)
    reminded = declined.where(EnrollmentOffer.ask_after.is_null(False))
    offered = EnrollmentOffer.select(EnrollmentOffer.user)

    def users(where=None) -> int:
        clause = migrated if where is None else migrated & where
        return (RosterEntry.select(peewee.fn.COUNT(RosterEntry.user_id.distinct()))
                .where(clause).scalar() or 0)

    has_one = RosterEntry.user_id.in_(passkeys) | RosterEntry.user_id.in_(pins)
    return Funnel(migrated=users(), offered=users(has_one | RosterEntry.user_id.in_(offered)),
                  passkey=users(RosterEntry.user_id.in_(passkeys)),
                  pin=users(RosterEntry.user_id.in_(pins)),
                  skipped=users(RosterEntry.user_id.in_(declined) & ~has_one),
                  reminded=users(RosterEntry.user_id.in_(reminded)))


@dataclass(frozen=True)
class LegacySignins:
    """One connector's sign-ins that still needed its legacy IdP over the period: the
    ``legacy.verified`` events (the IdP said yes) and the answered sign-in calls (yes or no)."""

    connector: str
    verified: int
    answered: int


def legacy_signins(since: datetime) -> list[LegacySignins]:
    """By connector since ``since``: ``legacy.verified`` audit events (sign-ins the legacy IdP
    vouched for: each is a user who is, or was just then, not migrated) and the
    :class:`~models.LegacyCall` rows of sign-in operations that the IdP answered (right or wrong
    passwords: the load the IdP still carries)."""
    verified = dict(AuditEvent.select(AuditEvent.connector, peewee.fn.COUNT(AuditEvent.id))
                    .where((AuditEvent.event == "legacy.verified") & (AuditEvent.at >= since)
                           & AuditEvent.connector.is_null(False))
                    .group_by(AuditEvent.connector).tuples())
    answered = dict(LegacyCall.select(LegacyCall.connector, peewee.fn.COUNT(LegacyCall.id))
                    .where((LegacyCall.at >= since) & (LegacyCall.outcome == "answer")
                           & LegacyCall.operation.in_(SIGNIN_OPERATIONS))
                    .group_by(LegacyCall.connector).tuples())
    return [LegacySignins(name, verified.get(name, 0), answered.get(name, 0))
            for name in sorted(set(verified) | set(answered))]


@dataclass(frozen=True)
class Readiness:
    """What stands between today and switching the legacy IdPs off."""

    remaining: int
    with_legacy_signin: int  # remaining entries whose last legacy sign-in is known
    signed_in_lately: int  # ... and it was within the period
    first: list[RosterEntry]  # the first remaining entries, latest legacy sign-in first
    legacy: list[LegacySignins]


def readiness(now: datetime, limit: int = 25) -> Readiness:
    """The remaining entries (the first ``limit``, those who signed in at the legacy side most
    recently first, then the unknown ones by connector and e-mail) and the legacy sign-ins of the
    last :data:`LEGACY_DAYS` days."""
    since = now - timedelta(days=LEGACY_DAYS)
    remaining = RosterEntry.select().where(RosterEntry.user_id.is_null())
    known = remaining.where(RosterEntry.legacy_last_signin_at.is_null(False))
    first = list(remaining.order_by(RosterEntry.legacy_last_signin_at.is_null(),
                                    RosterEntry.legacy_last_signin_at.desc(),
                                    RosterEntry.connector, RosterEntry.email, RosterEntry.id)
                 .limit(limit))
    return Readiness(remaining=remaining.count(), with_legacy_signin=known.count(),
                     signed_in_lately=known.where(RosterEntry.legacy_last_signin_at >= since).count(),
                     first=first, legacy=legacy_signins(since))


@dataclass(frozen=True)
class ConnectorMode:
    """A configured connector's mode, and its shadow checks over the period (``shadow.*``
    audit events: see :mod:`lifecycle.shadow`)."""

    connector: str
    mode: str
    match: int
    mismatch: int
    unavailable: int
    skipped: int


def connector_modes(since: datetime) -> list[ConnectorMode]:
    """Every configured connector with its mode, and the shadow checks of any connector since
    ``since`` (one left shadow mode still shows what its checks said)."""
    import connectors

    counts: dict[str, dict[str, int]] = {}
    rows = (AuditEvent.select(AuditEvent.connector, AuditEvent.event,
                              peewee.fn.COUNT(AuditEvent.id))
            .where(AuditEvent.event.startswith("shadow.") & (AuditEvent.at >= since)
                   & AuditEvent.connector.is_null(False))
            .group_by(AuditEvent.connector, AuditEvent.event).tuples())
    for connector, event, number in rows:
        counts.setdefault(connector, {})[event.partition(".")[2]] = number
    modes = {name: c.settings.migration for name, c in connectors.instances().items()}
    return [ConnectorMode(name, modes.get(name, "-"), *(counts.get(name, {}).get(result, 0)
                                                        for result in ("match", "mismatch",
                                                                       "unavailable", "skipped")))
            for name in sorted(set(modes) | set(counts))]

