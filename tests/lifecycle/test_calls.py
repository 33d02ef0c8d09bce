"""The record of legacy calls is written behind the request, never to a database Ferry no longer
runs on, and never grows without bound."""

from __future__ import annotations

from lifecycle import calls
from models import LegacyCall
from models.database import open_database


def rows(app) -> list[tuple]:
    """The rows in ``app``'s own database (the models' proxy follows the newest app)."""
    database = open_database(app.config["DATABASE_URL"])
    with database.connection_context():
        query = LegacyCall.select(LegacyCall.connector, LegacyCall.operation,
                                  LegacyCall.outcome, LegacyCall.ms).tuples()
        return list(query.execute(database))


def test_calls_wait_for_the_writer_and_never_reach_another_database(make_app, monkeypatch):
    monkeypatch.setattr(calls, "FLUSH_EVERY", 3600.0)  # only the explicit flush below writes
    calls.flush()
    first = make_app()
    with first.app_context():
        calls.record("corp", "verify", "answer", 0.0125)
    assert rows(first) == []  # nothing written inside the request
    assert calls.flush() == 1
    assert rows(first) == [("corp", "verify", "answer", 12.5)]
    with first.app_context():
        calls.record("late", "verify", "answer", 0.001)
    second = make_app()  # another Ferry of this process (its own database) takes the proxy
    with second.app_context():
        calls.record("other", "lookup", "unavailable", 5.0)
    assert calls.flush() == 1
    assert rows(second) == [("other", "lookup", "unavailable", 5000.0)]
    assert [row[0] for row in rows(first)] == ["corp"]  # "late" was for a replaced database


def test_a_full_queue_drops_the_oldest_and_says_so(make_app, monkeypatch, caplog):
    monkeypatch.setattr(calls, "FLUSH_EVERY", 3600.0)
    calls.flush()
    monkeypatch.setattr(calls, "_queue", calls.deque(maxlen=3))
    monkeypatch.setattr(calls, "MAX_QUEUED", 3)
    app = make_app()
    with app.app_context():
        for number in range(5):
            calls.record(f"c{number}", "verify", "answer", 0.001)
    assert calls.flush() == 3
    assert [row[0] for row in rows(app)] == ["c2", "c3", "c4"]
    assert "2 records of legacy calls were dropped" in caplog.text
