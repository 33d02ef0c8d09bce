"""The ``hashes`` connector in the whole sign-in: the first sign-in migrates the user from a CSV
export, a SQLite file or a PostgreSQL table and the second needs no legacy source; wrong passwords,
formats not enabled, disabled accounts and unusable hashes of some users."""

from __future__ import annotations

import logging
import sqlite3

import psycopg
import pytest

from connectors import LegacyUnavailable
from models import LegacyLink, PasswordCredential, User, db
from tests.accounts import count_users
from tests.conftest import SignIn, deployment
from tests.connectors.conftest import UNAVAILABLE, WRONG_CREDENTIALS, page_text, retry_after
from tests.connectors.contract import build_connector
from tests.connectors.hashes.legacy import (
    ACCOUNT_PROBLEM,
    ALICE,
    BOB,
    DAVE,
    PASSWORD,
    WRONG,
    config_problem,
    hashes_table,
    hexdigest,
    moved_away,
    passlib,
    people,
    postgres_table,
    sqlite_table,
    write_csv,
)
from tests.postgres import postgres_url, reset_postgres


# -- the whole journey ---------------------------------------------------------------------------
def stored_credential(app, email: str) -> tuple[User, LegacyLink, PasswordCredential]:
    with app.app_context(), db.connection_context():
        user = User.get(User.email == email)
        return (user, LegacyLink.get(LegacyLink.user == user),
                PasswordCredential.get(PasswordCredential.user == user))


def csv_source(tmp_path, alice_hash):
    path = write_csv(tmp_path / "users.csv", people(alice=alice_hash, bob=alice_hash))
    return hashes_table(path), path.unlink


def sqlite_source(tmp_path, alice_hash):
    path = tmp_path / "legacy.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE users (id TEXT, email TEXT, password_hash TEXT, first_name TEXT, "
                           "last_name TEXT, is_active TEXT, created_at TEXT, avatar BLOB)")
        for row in people(alice=alice_hash, bob=alice_hash):
            connection.execute("INSERT INTO users VALUES (:id, :email, :password_hash, :first_name, "
                               ":last_name, :is_active, NULL, NULL)", row)
    connection.close()
    return sqlite_table(path), path.unlink


def postgres_source(tmp_path, alice_hash):
    url = postgres_url()
    reset_postgres(url)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TABLE users (id text, email text, password_hash text, first_name text, "
                           "last_name text, is_active boolean)")
        for row in people(alice=alice_hash, bob=alice_hash):
            connection.execute("INSERT INTO users VALUES (%s, %s, %s, %s, %s, %s)", (
                row["id"], row["email"], row["password_hash"], row["first_name"], row["last_name"],
                row["is_active"] == "1"))

    def drop():
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("DROP TABLE users")

    query = "SELECT * FROM users WHERE lower(email) = lower(:identifier)"
    return postgres_table(url, query), drop


@pytest.mark.parametrize("make_source", [
    csv_source, sqlite_source, pytest.param(postgres_source, marks=pytest.mark.postgres)])
def test_first_sign_in_migrates_and_the_second_needs_no_legacy_source(make_app, tmp_path, make_source):
    legacy_hash = passlib("sha256_crypt", rounds=1000)(PASSWORD)
    table, remove_source = make_source(tmp_path, legacy_hash)
    app = make_app(DEPLOYMENT=deployment({"legacy": table}))

    SignIn(app.test_client()).tokens(ALICE, PASSWORD)
    user, link, credential = stored_credential(app, ALICE)
    assert (user.given_name, user.family_name) == ("Alice", "Liddell")
    assert (link.connector, link.subject) == ("legacy", "legacy-1")
    assert credential.hash.startswith("$argon2id$") and credential.hash != legacy_hash

    remove_source()
    walker = SignIn(app.test_client())  # bob never migrated: the legacy source is really gone
    assert UNAVAILABLE in page_text(walker.sign_in(BOB, PASSWORD))

    tokens = SignIn(app.test_client()).tokens(ALICE, PASSWORD)
    assert tokens["id_token"]
    assert stored_credential(app, ALICE)[2].hash == credential.hash
    assert count_users(app) == 1


def test_a_wrong_password_creates_no_user_and_counts_against_the_identifier(make_app, export):
    app = make_app(DEPLOYMENT=deployment({"legacy": hashes_table(export)}),
                   FAILED_SIGNINS_PER_IDENTIFIER="1 per 15 minutes")
    for identifier in (ALICE, "nobody@example.com"):
        response = SignIn(app.test_client()).sign_in(identifier, WRONG)
        assert response.status_code == 200 and WRONG_CREDENTIALS in page_text(response)
        assert retry_after(app, identifier) > 0
    assert count_users(app) == 0


def test_a_format_not_enabled_refuses_that_user_and_counts_nothing(make_app, export, caplog):
    table = hashes_table(export, schemes=["argon2"])
    app = make_app(DEPLOYMENT=deployment({"legacy": table}), FAILED_SIGNINS_PER_IDENTIFIER="1 per 15 minutes")
    for _ in range(2):
        response = SignIn(app.test_client()).sign_in(ALICE, PASSWORD)
        assert response.status_code == 200 and ACCOUNT_PROBLEM in page_text(response)
        assert UNAVAILABLE not in page_text(response)
    assert count_users(app) == 0
    assert retry_after(app, ALICE) == 0
    assert any(r.levelno == logging.ERROR and "hash format bcrypt not enabled" in r.getMessage()
               for r in caplog.records)

    # The limit itself works: a refusal by the same source is counted.
    wrong = SignIn(app.test_client()).sign_in("nobody@example.com", PASSWORD)
    assert WRONG_CREDENTIALS in page_text(wrong)
    assert retry_after(app, "nobody@example.com") > 0


def test_a_disabled_legacy_account_is_told_so_and_not_created(make_app, export):
    app = make_app(DEPLOYMENT=deployment({"legacy": hashes_table(export, active_field="is_active")}))
    response = SignIn(app.test_client()).sign_in(DAVE, PASSWORD)
    assert response.status_code == 200 and "Your account is disabled" in page_text(response)
    assert count_users(app) == 0


def test_unusable_hashes_of_some_users_never_open_the_breaker_for_everyone(app, tmp_path):
    rows = people(alice=passlib("md5_crypt")(PASSWORD), bob="$1$broken", dave=hexdigest("md5")(PASSWORD))
    path = write_csv(tmp_path / "users.csv", rows)
    connector = build_connector(app, hashes_table(path, breaker_failures=2))
    for _ in range(2):
        for identifier in (BOB, DAVE):  # malformed, and a format nobody enabled
            with pytest.raises(LegacyUnavailable):
                connector.check_password(identifier, PASSWORD)
    assert connector.guard.state == "closed"
    assert connector.check_password(ALICE, PASSWORD).subject == "legacy-1"

    with moved_away(path):  # the store itself failing is what the breaker is for
        for _ in range(2):
            with pytest.raises(LegacyUnavailable):
                connector.check_password(ALICE, PASSWORD)
    assert connector.guard.state == "open"
    with pytest.raises(LegacyUnavailable) as refused:
        connector.check_password(ALICE, PASSWORD)
    assert "circuit breaker open" in refused.value.reason


def test_a_csv_with_a_repeated_column_stops_start_up(app, tmp_path):
    path = tmp_path / "users.csv"
    path.write_text("id,email,password_hash,email\n1,a@example.com,$1$x,b@example.com\n")
    assert "column 'email' appears more than once" in config_problem(app, hashes_table(path))
