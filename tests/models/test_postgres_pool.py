"""The PostgreSQL pool lends a live connection without a round trip, and never a dead one: a
connection the server ended (as a restart ends them all) is found before it is lent, the request
gets a new one and succeeds."""

from __future__ import annotations

import psycopg

from models import db
from tests.postgres import postgres_url


def _statements(monkeypatch) -> list[str]:
    sent: list[str] = []
    real = psycopg.Cursor.execute

    def execute(self, query, params=None, **kwargs):
        sent.append(query if isinstance(query, str) else str(query))
        return real(self, query, params, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", execute)
    return sent


def _backend_pid(app) -> int:
    with app.test_request_context():
        app.preprocess_request()
        pid = db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
        app.do_teardown_appcontext()
    return pid


def test_a_live_connection_is_lent_without_a_ping(make_app, monkeypatch):
    app = make_app(postgres_url())
    client = app.test_client()
    assert client.get("/.well-known/jwks.json").status_code == 200  # the pool holds one now
    sent = _statements(monkeypatch)
    for _ in range(3):
        assert client.get("/login").status_code == 200
    assert sent and "SELECT 1" not in sent


def test_a_connection_the_server_ended_is_replaced_before_it_is_lent(make_app):
    app = make_app(postgres_url())
    pid = _backend_pid(app)
    with psycopg.connect(postgres_url(), autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0] is True
        for _ in range(50):  # the backend is gone once it no longer shows
            if not admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
                break
            admin.execute("SELECT pg_sleep(0.02)")
    assert app.test_client().get("/login").status_code == 200
    assert _backend_pid(app) != pid
