"""The dashboard's figures equal what the database holds: each is checked against a count made
independently (raw SQL, or Python over every row) on a seeded roster of three connectors (one
named like markup), failures old and new, legacy calls of every outcome, and users with
passkeys, PINs and "Not now" answers. The forecast of a seeded exactly-exponential history
gives its known date."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import pytest

from lifecycle import dashboard, stats
from models import (
    AuditEvent,
    EnrollmentOffer,
    LegacyCall,
    PasskeyCredential,
    PinCredential,
    RosterEntry,
    User,
    db,
    utcnow,
)
from tests.conftest import deployment

NASTY = '<b>R&D "legacy"</b>'


def midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time())


def seed(app, now: datetime | None = None) -> None:
    """A migration under way: csv 25 of 40 migrated, ldap 5 of 20 (2 of each long ago), the
    NASTY connector 0 of 5; enrollment, failures and legacy calls around them."""
    now = now or utcnow()
    today = now.date()
    with app.app_context(), db.connection_context():
        n = 0
        for connector, entries, migrated in (("csv", 40, 25), ("ldap", 20, 5), (NASTY, 5, 0)):
            for i in range(entries):
                n += 1
                user_id = None
                at = None
                if i < migrated:
                    user_id = User.create(email=f"user{n}@example.org").id
                    days_ago = 40 if i < 2 else (i % 12) + 1
                    at = midnight(today - timedelta(days=days_ago)) + timedelta(hours=6 + i % 10)
                RosterEntry.create(connector=connector, email=f"user{n}@example.org",
                                   source="import:test.csv", user_id=user_id, migrated_at=at,
                                   legacy_last_signin_at=(now - timedelta(days=i, hours=3))
                                   if user_id is None and i % 3 == 0 else None)
        users = [entry.user_id for entry in RosterEntry.select().where(RosterEntry.user_id.is_null(False))
                 .order_by(RosterEntry.id)]
        for index, user_id in enumerate(users[:12]):
            if index < 6:
                PasskeyCredential.create(user=user_id, credential_id=f"pk-{index}", public_key=b"k")
            if index in (4, 5, 6, 7):
                PinCredential.create(user=user_id, credential_id=f"pin-{index}", public_key=b"k",
                                     pin_hash="$argon2id$x")
            if index in (5, 8, 9, 10, 11):  # 5 said "Not now" and later made a passkey
                EnrollmentOffer.create(user=user_id, kind="passkey", declined=1 + index % 2,
                                       ask_after=None if index == 11 else 10)
        EnrollmentOffer.create(user=users[12], kind="passkey", declined=0, ask_after=None)
        recent = now - timedelta(days=2)
        for event, connector, count in (
                ("signin.failed", None, 4), ("legacy.refused", "csv", 2),
                ("legacy.unavailable", "ldap", 3), ("legacy.unavailable", "csv", 1),
                ("legacy.mfa_failed", "csv", 1), ("password.policy", None, 1),
                ("user.conflict", "csv", 1), ("legacy.blocked", NASTY, 1),
                ("legacy.not_found", "csv", 5), ("signin.password", None, 7),
                ("legacy.verified", "csv", 3), ("legacy.verified", NASTY, 1)):
            for _ in range(count):
                AuditEvent.create(at=recent, event=event, connector=connector)
        for event, connector in (("signin.failed", None), ("legacy.verified", "ldap")):
            AuditEvent.create(at=now - timedelta(days=40), event=event, connector=connector)
        for ms in range(1, 101):
            LegacyCall.create(at=now - timedelta(hours=ms), connector="csv", operation="verify",
                              outcome="answer", ms=float(ms))
        for ms, outcome in ((5, "answer"), (1, "answer"), (3, "unavailable"), (9, "answer"),
                            (7, "answer"), (2000, "unavailable"), (2, "answer")):
            LegacyCall.create(at=now - timedelta(days=1), connector="ldap", operation="lookup",
                              outcome=outcome, ms=float(ms))
        for _ in range(10):
            LegacyCall.create(at=now - timedelta(hours=1), connector="csv", operation="verify",
                              outcome="refused", ms=0.0)
        LegacyCall.create(at=now - timedelta(days=8), connector="csv", operation="verify",
                          outcome="answer", ms=9999.0)


@pytest.fixture
def seeded(make_app):
    app = make_app(DEPLOYMENT=deployment())
    seed(app)
    with app.test_request_context(), db.connection_context():
        yield app


def sql(query: str, *params) -> list[tuple]:
    return list(db.execute_sql(query, params).fetchall())


def test_progress_equals_the_roster(seeded):
    overall, by_connector = stats.progress()
    expected = sql("SELECT connector, SUM(CASE WHEN user_id IS NULL THEN 0 ELSE 1 END), "
                   "SUM(CASE WHEN user_id IS NULL THEN 1 ELSE 0 END) FROM roster_entry "
                   "GROUP BY connector ORDER BY connector")
    assert [(row.connector, row.migrated, row.remaining) for row in by_connector] == expected
    assert [row.connector for row in by_connector] == [NASTY, "csv", "ldap"]
    assert (overall.migrated, overall.remaining) == sql(
        "SELECT COUNT(user_id), COUNT(*) - COUNT(user_id) FROM roster_entry")[0] == (30, 35)


def test_migrations_per_day_add_up(seeded):
    today = utcnow().date()
    days = stats.migrations_per_day(today - timedelta(days=29), today)
    assert len(days) == 30 and days[0][0] == today - timedelta(days=29) and days[-1][0] == today
    for day, count in days:
        assert count == sql("SELECT COUNT(*) FROM roster_entry WHERE migrated_at >= ? AND "
                            "migrated_at < ?", midnight(day), midnight(day + timedelta(days=1)))[0][0]
    assert sum(count for _day, count in days) == 30 - 4  # csv and ldap each have two migrated 40 days ago
    assert stats.first_migration_day() == today - timedelta(days=40)


def test_failures_by_reason(seeded):
    found = {row.reason: row for row in stats.failures(utcnow() - timedelta(days=30))}
    assert {reason: row.count for reason, row in found.items()} == {
        "wrong_password": 6, "legacy_unavailable": 4, "mfa": 1, "policy": 1, "conflict": 1,
        "blocked": 1}
    assert found["legacy_unavailable"].by_connector == {"csv": 1, "ldap": 3}
    assert found["wrong_password"].by_connector == {"": 4, "csv": 2}
    mapped = [event for _label, events in stats.FAILURES.values() for event in events]
    assert len(mapped) == len(set(mapped))  # one reason per event
    total = sql(f"SELECT COUNT(*) FROM audit_event WHERE at >= ? AND event IN "  # noqa: S608
                f"({','.join('?' * len(mapped))})", utcnow() - timedelta(days=30), *mapped)[0][0]
    assert sum(row.count for row in found.values()) == total


def nearest_rank(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(share * len(ordered)) - 1]


def test_latency_percentiles(seeded):
    since = utcnow() - timedelta(days=7)
    found = {row.connector: row for row in stats.latency(since)}
    assert set(found) == {"csv", "ldap"}
    for connector, row in found.items():
        values = [ms for (ms,) in sql("SELECT ms FROM legacy_call WHERE connector = ? AND at >= ? "
                                      "AND outcome != 'refused'", connector, since)]
        assert row.calls == len(values)
        assert (row.p50, row.p95) == (nearest_rank(values, 0.5), nearest_rank(values, 0.95))
    assert (found["csv"].p50, found["csv"].p95, found["csv"].unavailable) == (50.0, 95.0, 0)
    assert (found["ldap"].p50, found["ldap"].p95, found["ldap"].unavailable) == (5.0, 2000.0, 2)


def test_percentile_rank():
    assert [stats.percentile_rank(0.5, n) for n in (1, 2, 3, 100)] == [0, 0, 1, 49]
    assert stats.percentile_rank(0.95, 0) == 0


def test_funnel_equals_the_sets(seeded):
    migrated = {row[0] for row in sql("SELECT user_id FROM roster_entry WHERE user_id IS NOT NULL")}
    passkey = {row[0] for row in sql("SELECT user_id FROM passkey_credential")} & migrated
    pin = {row[0] for row in sql("SELECT user_id FROM pin_credential")} & migrated
    offers = sql("SELECT user_id, declined, ask_after FROM enrollment_offer")
    declined = {user for user, count, _after in offers if count > 0} & migrated
    answered = ({user for user, _count, _after in offers} & migrated) | passkey | pin
    reminded = {user for user, count, after in offers if count > 0 and after is not None} & migrated
    assert stats.funnel() == stats.Funnel(
        migrated=len(migrated), offered=len(answered), passkey=len(passkey), pin=len(pin),
        skipped=len(declined - passkey - pin), reminded=len(reminded))
    assert stats.funnel() == stats.Funnel(30, 13, 6, 4, 4, 4)


def test_readiness(seeded):
    now = utcnow()
    ready = stats.readiness(now, limit=5)
    assert ready.remaining == sql("SELECT COUNT(*) FROM roster_entry WHERE user_id IS NULL")[0][0]
    assert ready.with_legacy_signin == sql("SELECT COUNT(*) FROM roster_entry WHERE user_id IS NULL "
                                           "AND legacy_last_signin_at IS NOT NULL")[0][0]
    assert ready.signed_in_lately == sql(
        "SELECT COUNT(*) FROM roster_entry WHERE user_id IS NULL AND legacy_last_signin_at >= ?",
        now - timedelta(days=7))[0][0]
    # Latest legacy sign-in first; those the legacy side never told of come last.
    times = [entry.legacy_last_signin_at for entry in ready.first]
    assert len(times) == 5 and all(entry.user_id is None for entry in ready.first)
    assert times == sorted(times, reverse=True)
    everyone = stats.readiness(now, limit=1000).first
    assert len(everyone) == ready.remaining and everyone[-1].legacy_last_signin_at is None
    assert [(row.connector, row.verified, row.answered) for row in ready.legacy] == [
        (NASTY, 1, 0), ("csv", 3, 100)]  # ldap: an old verification, lookups are no sign-in


def test_the_dashboard_forecasts_an_exact_decay(make_app):
    # 1000 entries; remaining exactly 1000·0.9^d at the end of day d for the last 20 days.
    app = make_app(DEPLOYMENT=deployment())
    now = utcnow()
    start = now.date() - timedelta(days=20)
    remaining = [round(1000 * 0.9 ** d) for d in range(20)]
    with app.app_context(), db.connection_context():
        for index in range(1000):
            RosterEntry.create(connector="csv", email=f"u{index}@example.org", source="t")
        ids = iter(RosterEntry.select(RosterEntry.id).order_by(RosterEntry.id).tuples())
        for d in range(1, 20):
            for _ in range(remaining[d - 1] - remaining[d]):
                (RosterEntry.update(user_id=f"{d:032d}", migrated_at=midnight(start + timedelta(days=d))
                                    + timedelta(hours=12)).where(RosterEntry.id == next(ids)[0]).execute())
    with app.test_request_context(), db.connection_context():
        board = dashboard.build(now)
    fit = board.forecasts[0].fit
    assert fit.rate == pytest.approx(-math.log(0.9), rel=0.01)  # counts are rounded to people
    assert board.history[-1] == (start + timedelta(days=19), remaining[-1])
    truth = midnight(start + timedelta(days=20)) + timedelta(
        days=math.log(remaining[-1] / 50) / fit.rate)
    assert abs((board.forecasts[0].expected - truth).total_seconds()) < 1
    assert board.forecasts[0].earliest <= board.forecasts[0].expected <= board.forecasts[0].latest
