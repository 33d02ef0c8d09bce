"""Fixtures of the ``hashes`` connector's tests: a CSV export (``export``), a legacy SQLite database
(``legacy_sqlite``) and a legacy table in the tests' PostgreSQL (``legacy_postgres``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import bcrypt
import psycopg
import pytest

from tests.connectors.hashes.legacy import (
    PASSWORD,
    PG_PASSWORD,
    django,
    passlib,
    people,
    wordpress,
    write_csv,
)
from tests.postgres import postgres_url, reset_postgres


# -- building sources ---------------------------------------------------------------------------
@pytest.fixture
def export(tmp_path) -> Path:
    """A CSV export: alice (bcrypt), bob (Django PBKDF2), dave (bcrypt, inactive)."""
    return write_csv(tmp_path / "users.csv", people(
        alice=bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode(),
        bob=django("PBKDF2PasswordHasher", iterations=1000)(PASSWORD),
        dave=bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()))


# -- SQL: SQLite ---------------------------------------------------------------------------------
@pytest.fixture
def legacy_sqlite(tmp_path) -> Path:
    path = tmp_path / "legacy.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, password_hash TEXT, "
                           "first_name TEXT, last_name TEXT, is_active INTEGER, created_at TEXT, "
                           "avatar BLOB)")
        for number, row in enumerate(people(
                alice=passlib("phpass", rounds=8)(PASSWORD), bob=wordpress(PASSWORD),
                dave=passlib("phpass", rounds=8)(PASSWORD)), 1):
            connection.execute("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (
                number, row["email"].title(), row["password_hash"], row["first_name"], row["last_name"],
                int(row["is_active"]), "2019-05-06 07:08:09", b"\x89PNG"))
    connection.close()
    return path


# -- SQL: PostgreSQL -----------------------------------------------------------------------------
@pytest.fixture
def legacy_postgres():
    """A legacy user table in the tests' PostgreSQL database; its URL gets a password to keep secret."""
    url = postgres_url()
    reset_postgres(url)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE users (id uuid PRIMARY KEY, email text NOT NULL, password_hash text, "
            "first_name text, last_name text, is_active boolean NOT NULL, created_at timestamptz, "
            "balance numeric(10, 2), tags text[])")
        for number, row in enumerate(people(
                alice=django("Argon2PasswordHasher", time_cost=1, memory_cost=1024, parallelism=1)(PASSWORD),
                bob=passlib("sha512_crypt", rounds=1000)(PASSWORD),
                dave=django("BCryptSHA256PasswordHasher", rounds=4)(PASSWORD)), 1):
            connection.execute(
                "INSERT INTO users VALUES (%s, %s, %s, %s, %s, %s, '2020-01-02T03:04:05Z', 12.50, "
                "ARRAY['a', 'b'])",
                (f"00000000-0000-0000-0000-00000000000{number}", row["email"], row["password_hash"],
                 row["first_name"], row["last_name"], row["is_active"] == "1"))
    parts = urlsplit(url)
    if parts.username and not parts.password:  # trust authentication ignores it; the logs must too
        parts = parts._replace(netloc=f"{parts.username}:{PG_PASSWORD}@{parts.hostname}:{parts.port or 5432}")
    return urlunsplit(parts)
