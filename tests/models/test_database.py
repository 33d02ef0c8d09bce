"""The connection pool: one SQLite connection serves request after request, and comes back clean."""

from __future__ import annotations

import threading

from models import JourneyRun, database, db, utcnow


def _lent_connections(monkeypatch) -> list[object]:
    """Every connection the pool lends from now on (kept alive, so their ids stay distinct)."""
    lent: list[object] = []
    real_connect = db.obj._connect

    def connect():
        lent.append(conn := real_connect())
        return conn

    monkeypatch.setattr(db.obj, "_connect", connect)
    return lent


def _distinct(connections: list[object]) -> int:
    return len({id(conn) for conn in connections})


def test_requests_reuse_one_connection_and_hand_it_back(app, client, monkeypatch):
    lent = _lent_connections(monkeypatch)
    for _ in range(3):
        assert client.get("/login").status_code == 200
    assert len(lent) == 3 and _distinct(lent) == 1, "every request opened the database again"
    assert db.is_closed(), "the request kept its connection after teardown"


def test_threads_share_the_pool_one_connection_at_a_time(app, client, monkeypatch):
    lent = _lent_connections(monkeypatch)
    client.get("/login")
    # werkzeug's development server answers each request on a new thread.
    answers: list[int] = []
    worker = threading.Thread(target=lambda: answers.append(app.test_client().get("/login").status_code))
    worker.start()
    worker.join()
    assert answers == [200] and len(lent) == 2 and _distinct(lent) == 1


def test_a_transaction_left_open_is_rolled_back_on_return(app):
    with app.test_request_context():
        app.preprocess_request()
        db.execute_sql("BEGIN IMMEDIATE")  # behind peewee's back: as if a bug left it open
        JourneyRun.create(id_hash="left-open", journey="sign-in", step="collect",
                          expires_at=utcnow())
    # The write lock was released and the row never committed.
    with app.test_request_context():
        app.preprocess_request()
        assert JourneyRun.get_or_none(JourneyRun.id_hash == "left-open") is None
        JourneyRun.create(id_hash="next", journey="sign-in", step="collect", expires_at=utcnow())


def test_a_forked_child_neither_uses_nor_closes_the_parents_connection(app, client, monkeypatch):
    lent = _lent_connections(monkeypatch)
    client.get("/login")
    database._forget_inherited_connections()  # what os.fork() runs in the child
    assert client.get("/login").status_code == 200
    assert len(lent) == 2 and _distinct(lent) == 2, "the parent's connection was lent in the child"
    assert lent[0].execute("SELECT 1").fetchone() == (1,), "the parent's connection was closed"
    database._inherited.clear()  # this test's "parent" is the test process itself
    lent[0].close()
