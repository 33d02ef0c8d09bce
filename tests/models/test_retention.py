"""Retention of the history tables: ``db purge`` deletes audit events and legacy-call records
older than their configured retention, in batches, and keeps the rest (0 keeps everything)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models import AuditEvent, LegacyCall, db, retention, utcnow


def seed(app, old: int, new: int) -> None:
    now = utcnow()
    with app.app_context(), db.connection_context():
        for age, count in ((timedelta(days=40), old), (timedelta(days=1), new)):
            for number in range(count):
                AuditEvent.create(at=now - age, event="signin.password", details={"n": number})
                LegacyCall.create(at=now - age, connector="legacy", operation="verify",
                                  outcome="answer", ms=12.5)


def counts(app) -> tuple[int, int]:
    with app.app_context(), db.connection_context():
        return AuditEvent.select().count(), LegacyCall.select().count()


def test_purge_deletes_history_past_its_retention_in_batches(make_app, monkeypatch):
    app = make_app(AUDIT_RETENTION_DAYS=30, LEGACY_CALL_RETENTION_DAYS=30)
    monkeypatch.setattr(retention, "BATCH", 3)
    seed(app, old=7, new=2)
    output = app.test_cli_runner().invoke(args=["db", "purge"]).output
    assert "audit_events: 7" in output and "legacy_calls: 7" in output
    assert counts(app) == (2, 2)
    with app.app_context(), db.connection_context():
        assert all(event.at > utcnow() - timedelta(days=30) for event in AuditEvent.select())


@pytest.mark.parametrize("audit_days, calls_days, left", [(0, 0, (9, 9)), (0, 30, (9, 2)),
                                                           (60, 30, (9, 2)), (30, 0, (2, 9))])
def test_each_retention_applies_to_its_own_table(make_app, audit_days, calls_days, left):
    app = make_app(AUDIT_RETENTION_DAYS=audit_days, LEGACY_CALL_RETENTION_DAYS=calls_days)
    seed(app, old=7, new=2)
    assert app.test_cli_runner().invoke(args=["db", "purge"]).exit_code == 0
    assert counts(app) == left
