"""The ``hashes`` connector reading users with an SQL query, from a SQLite file and a PostgreSQL
table made here: rows as claims, the identifier always bound, queries bounded in time and read-only,
and a database that cannot answer being unavailable."""

from __future__ import annotations

import json
import sqlite3

import psycopg
import pytest

from connectors import AccountBlocked, LegacyUnavailable, UserNotFound
from tests.connectors.contract import build_connector
from tests.connectors.hashes.legacy import ALICE, BOB, DAVE, PASSWORD, postgres_table, sqlite_table


# -- SQL: SQLite ---------------------------------------------------------------------------------
def test_sqlite_rows_become_claims(app, legacy_sqlite):
    connector = build_connector(app, sqlite_table(legacy_sqlite))
    identity = connector.verify("ALICE@example.com", PASSWORD)
    assert identity.subject == "1"
    assert identity.claims == {"id": 1, "email": "Alice@Example.Com", "first_name": "Alice",
                               "last_name": "Liddell", "is_active": 1, "created_at": "2019-05-06 07:08:09"}
    assert connector.verify(BOB, PASSWORD).subject == "2"  # WordPress $wp$
    with pytest.raises(AccountBlocked):
        connector.verify(DAVE, PASSWORD)


@pytest.mark.parametrize("identifier", ["x' OR '1'='1", "%", "alice@example.com' --"])
def test_the_identifier_is_bound_never_formatted_into_the_query(app, legacy_sqlite, identifier):
    connector = build_connector(app, sqlite_table(legacy_sqlite))
    with pytest.raises(UserNotFound):
        connector.verify(identifier, PASSWORD)


@pytest.mark.parametrize(("query", "expected"), [
    ("SELECT * FROM users WHERE :identifier = :identifier", "several rows for one identifier"),
    ("SELECT id, email FROM users WHERE email = :identifier COLLATE NOCASE", "no column 'password_hash'"),
    ("SELECT * FROM no_such_table WHERE email = :identifier", "no such table: no_such_table"),
    ("UPDATE users SET first_name = 'Mallory' WHERE email = :identifier COLLATE NOCASE RETURNING *",
     "readonly"),
    ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
     "SELECT * FROM users, (SELECT max(i) FROM n) WHERE email = :identifier", "took longer than 0.2 s"),
])
def test_a_query_that_cannot_answer_is_unavailable(app, legacy_sqlite, query, expected):
    connector = build_connector(app, sqlite_table(legacy_sqlite, query, read_timeout=0.2))
    with pytest.raises(LegacyUnavailable) as refused:
        connector.verify(ALICE, PASSWORD)
    assert expected in refused.value.reason
    with sqlite3.connect(legacy_sqlite) as connection:
        assert connection.execute("SELECT first_name FROM users WHERE id = 1").fetchone() == ("Alice",)
    connection.close()


def test_a_missing_database_file_is_unavailable_and_never_created(app, tmp_path):
    missing = tmp_path / "nowhere" / "legacy.db"
    connector = build_connector(app, sqlite_table(missing))  # a database may be down at start-up
    with pytest.raises(LegacyUnavailable) as refused:
        connector.verify(ALICE, PASSWORD)
    assert "unable to open database file" in refused.value.reason
    assert not missing.exists()


# -- SQL: PostgreSQL -----------------------------------------------------------------------------
@pytest.mark.postgres
def test_postgres_rows_become_json_safe_claims(app, legacy_postgres):
    query = "SELECT * FROM users WHERE lower(email) = lower(:identifier)"
    connector = build_connector(app, postgres_table(legacy_postgres, query))
    identity = connector.verify(ALICE, PASSWORD)
    assert identity.subject == "00000000-0000-0000-0000-000000000001"
    assert identity.claims["created_at"].startswith("2020-01-02T03:04:05")
    claims = identity.claims
    assert (claims["balance"], claims["tags"], claims["is_active"]) == (12.5, ["a", "b"], True)
    assert json.loads(json.dumps(identity.to_context()))["claims"]["first_name"] == "Alice"
    assert connector.verify(BOB, PASSWORD).claims["last_name"] == "Dylan"  # SHA-512-crypt
    with pytest.raises(AccountBlocked):
        connector.verify(DAVE, PASSWORD)  # Django bcrypt_sha256, is_active false


@pytest.mark.postgres
def test_postgres_casts_and_percent_signs_survive_binding(app, legacy_postgres):
    query = ("SELECT id::text AS id, email, password_hash, first_name, is_active FROM users "
             "WHERE email LIKE '%@%' AND lower(email) = lower(:identifier::text) -- :not_a_parameter")
    connector = build_connector(app, postgres_table(legacy_postgres, query))
    assert connector.verify(ALICE, PASSWORD).subject.endswith("0001")
    for hostile in ("x' OR '1'='1", "%", "%(identifier)s"):
        with pytest.raises(UserNotFound):
            connector.verify(hostile, PASSWORD)


@pytest.mark.postgres
@pytest.mark.parametrize(("query", "expected"), [
    ("SELECT *, pg_sleep(2) FROM users WHERE email = :identifier", "took longer than 0.3 s"),
    ("UPDATE users SET first_name = 'Mallory' WHERE email = :identifier RETURNING *",
     "read-only transaction"),
])
def test_postgres_queries_are_bounded_and_read_only(app, legacy_postgres, query, expected):
    connector = build_connector(app, postgres_table(legacy_postgres, query, read_timeout=0.3))
    with pytest.raises(LegacyUnavailable) as refused:
        connector.verify(ALICE, PASSWORD)
    assert expected in refused.value.reason
    with psycopg.connect(legacy_postgres) as connection:
        assert connection.execute("SELECT first_name FROM users WHERE email = %s", (ALICE,)).fetchone() == (
            "Alice",)
