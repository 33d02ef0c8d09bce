"""``ferry users import``: a legacy hash export becomes users now, their hashes checked with their
own scheme at the first sign-in (through the real journey) and then upgraded to argon2id.

The export holds hashes made by the software legacy systems use (bcrypt, a salted SHA-256 with
its salt in a column, argon2id from another system), built with the helpers of the ``hashes``
connector's own tests.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time

import bcrypt
import pytest

from authenticators.imported_hashes import PREFIX, unwrap
from connectors.hashes.schemes import AUTO_DETECTED
from lifecycle.users_import import import_record
from models import AuditEvent, LegacyLink, PasswordCredential, RosterEntry, User, db
from tests.accounts import count_users, create_local_user
from tests.conftest import SignIn, deployment
from tests.connectors.conftest import WRONG_CREDENTIALS, page_text
from tests.connectors.hashes.legacy import (
    FAST_ARGON2,
    PASSWORD,
    WRONG,
    hashes_table,
    salted,
    write_jsonl,
)

SALT = "pepperoni"
#: One legacy system's users: each with a hash of PASSWORD in another scheme.
SCHEMES = {
    "alice": lambda: bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode(),
    "bob": lambda: salted("sha256", SALT.encode(), "prefix", "hex")(PASSWORD),
    "carol": lambda: FAST_ARGON2.hash(PASSWORD),  # argon2id, another system's parameters
}


def row(first: str, number: int, stored: str = "", **extra) -> dict:
    return {"id": f"legacy-{number}", "email": f"{first}@example.com", "password_hash": stored,
            "salt": SALT if first == "bob" else "", "first_name": first.title(),
            "last_name": "Legacy", "is_active": "1", **extra}


def export_rows() -> list[dict]:
    """alice, bob, carol (three schemes), dave (disabled), erin (no hash)."""
    rows = [row(first, number, make()) for number, (first, make) in enumerate(SCHEMES.items(), 1)]
    rows.append(row("dave", 4, SCHEMES["alice"](), is_active="0"))
    rows.append(row("erin", 5))
    return rows


def legacy_table(path, **settings) -> dict:
    return hashes_table(path, salt_field="salt", active_field="is_active",
                        schemes=[*AUTO_DETECTED, "salted_sha"],
                        salted_sha={"algorithm": "sha256"}, **settings)


@pytest.fixture
def export(tmp_path):
    return write_jsonl(tmp_path / "users.jsonl", export_rows())


@pytest.fixture
def legacy_app(make_app, export):
    return make_app(DEPLOYMENT=deployment({"legacy": legacy_table(export)}))


def run_import(app, *options: str):
    return app.test_cli_runner().invoke(
        args=["ferry", "users", "import", "--connector", "legacy", *options])


def credential_of(app, email: str) -> PasswordCredential | None:
    with app.app_context(), db.connection_context():
        return (PasswordCredential.select().join(User)
                .where(User.email == email).first())


def user_of(app, email: str) -> User:
    with app.app_context(), db.connection_context():
        return User.get(User.email == email)


def table_counts(app) -> dict[str, int]:
    with app.app_context(), db.connection_context():
        return {model.__name__: model.select().count()
                for model in (User, LegacyLink, PasswordCredential, RosterEntry, AuditEvent)}


# -- the import ----------------------------------------------------------------------------
def test_an_import_creates_every_user_with_the_legacy_hash_kept_as_it_was(legacy_app, export):
    stored = {r["email"]: r["password_hash"] for r in map(json.loads, export.read_text().splitlines())}
    result = run_import(legacy_app)
    assert result.exit_code == 0, result.output
    assert ("created 5 (1 disabled, 1 without a password), already there 0, conflicts 0, "
            "closed 0, bad records 0") in result.stdout
    for first in SCHEMES:
        credential = credential_of(legacy_app, f"{first}@example.com")
        connector, kept = unwrap(credential.hash)
        assert connector == "legacy" and kept.value == stored[f"{first}@example.com"]
        assert credential.hash.startswith(PREFIX)
    assert unwrap(credential_of(legacy_app, "bob@example.com").hash)[1].salt == SALT
    assert credential_of(legacy_app, "erin@example.com") is None
    assert user_of(legacy_app, "dave@example.com").status == "disabled"
    assert user_of(legacy_app, "alice@example.com").given_name == "Alice"
    with legacy_app.app_context(), db.connection_context():
        events = list(AuditEvent.select().where(AuditEvent.event == "user.imported"))
        entries = list(RosterEntry.select())
    assert len(events) == 5 and {e.connector for e in events} == {"legacy"}
    assert not any(value in str(e.details) for e in events for value in stored.values() if value)
    assert len(entries) == 5 and {e.source for e in entries} == {"import"}
    assert all(e.user_id and e.migrated_at for e in entries)


@pytest.mark.parametrize("first", SCHEMES)
def test_the_first_sign_in_checks_the_legacy_scheme_then_keeps_argon2id(legacy_app, export, first):
    email = f"{first}@example.com"
    assert run_import(legacy_app).exit_code == 0
    export.unlink()  # the legacy source is gone: only the imported hash can say yes
    imported = credential_of(legacy_app, email).hash

    refused = SignIn(legacy_app.test_client()).sign_in(email, WRONG)
    assert WRONG_CREDENTIALS in page_text(refused)
    assert credential_of(legacy_app, email).hash == imported

    tokens = SignIn(legacy_app.test_client()).tokens(email, PASSWORD)
    assert tokens["id_token"]
    upgraded = credential_of(legacy_app, email).hash
    assert upgraded.startswith("$argon2id$") and "m=8192,t=1" in upgraded  # Ferry's parameters
    assert SignIn(legacy_app.test_client()).tokens(email, PASSWORD)["id_token"]
    assert WRONG_CREDENTIALS in page_text(SignIn(legacy_app.test_client()).sign_in(email, WRONG))
    assert count_users(legacy_app) == 5


def test_a_user_disabled_at_the_legacy_side_is_imported_disabled(legacy_app):
    assert run_import(legacy_app).exit_code == 0
    page = page_text(SignIn(legacy_app.test_client()).sign_in("dave@example.com", PASSWORD))
    assert WRONG_CREDENTIALS in page
    with legacy_app.app_context(), db.connection_context():
        assert AuditEvent.select().where(AuditEvent.event == "signin.failed").get().details == {
            "reason": "user_disabled"}


def test_a_second_run_creates_nobody_and_keeps_upgraded_hashes(legacy_app):
    assert run_import(legacy_app).exit_code == 0
    SignIn(legacy_app.test_client()).tokens("alice@example.com", PASSWORD)
    upgraded = credential_of(legacy_app, "alice@example.com").hash
    before = table_counts(legacy_app)

    again = run_import(legacy_app)
    assert again.exit_code == 0, again.output
    assert "created 0, already there 5," in again.stdout
    assert table_counts(legacy_app) == before
    assert credential_of(legacy_app, "alice@example.com").hash == upgraded


def test_a_dry_run_writes_nothing(legacy_app):
    before = table_counts(legacy_app)
    result = run_import(legacy_app, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dry run, nothing written: would have created 5 (1 disabled" in result.stdout
    assert table_counts(legacy_app) == before
    assert "created 5" in run_import(legacy_app).stdout  # and the real run still has it all


def test_an_e_mail_owned_by_another_user_is_reported_not_merged(legacy_app):
    local_id = create_local_user(legacy_app, "bob@example.com", "bob's own Ferry password")
    local_hash = credential_of(legacy_app, "bob@example.com").hash
    result = run_import(legacy_app)
    assert result.exit_code == 1
    assert "created 4 (1 disabled, 1 without a password), already there 0, conflicts 1," in result.stdout
    assert "line 2 (subject legacy-2): conflict: another user already has its e-mail" in result.stdout
    assert credential_of(legacy_app, "bob@example.com").hash == local_hash
    with legacy_app.app_context(), db.connection_context():
        assert not LegacyLink.select().where(LegacyLink.user == local_id).exists()
        assert not LegacyLink.select().where(LegacyLink.subject == "legacy-2").exists()


def test_bad_records_are_named_and_the_others_imported(legacy_app, export):
    rows = export_rows()
    rows[1] = {**rows[1], "id": ""}  # bob: no subject
    rows[2] = {**rows[2], "password_hash": "5f4dcc3b5aa765d61d8327deb882cf99"}  # md5 hex: not enabled
    rows.append({"first_name": "Phone only"})  # no e-mail: no identifier
    write_jsonl(export, rows)  # changed after start-up, as an export being re-made would be
    result = run_import(legacy_app)
    assert result.exit_code == 1
    assert "created 3 (1 disabled, 1 without a password), already there 0, conflicts 0, " \
           "closed 0, bad records 3" in result.stdout
    assert "line 2: bad record: no 'id' (the subject)" in result.stdout
    assert "line 3 (subject legacy-3): bad record: hash format md5_hex not enabled" in result.stdout
    assert "line 6: bad record: no 'email' (the identifier)" in result.stdout
    assert "5f4dcc3b" not in result.output
    assert count_users(legacy_app) == 3


def test_a_sql_source_is_refused_with_what_to_do(make_app, tmp_path):
    path = tmp_path / "legacy.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE users (id TEXT, email TEXT, password_hash TEXT)")
    connection.close()
    app = make_app(DEPLOYMENT=deployment({"legacy": {
        "type": "hashes", "source": "sql", "database_url": f"sqlite:///{path}",
        "query": "SELECT * FROM users WHERE email = :identifier"}}))
    result = run_import(app)
    assert result.exit_code == 2 and "cannot list them" in result.output
    assert count_users(app) == 0


# -- hashes whose connector cannot check them any more -------------------------------------------
@pytest.mark.parametrize("tables", [{}, None], ids=["connector removed", "connector disabled"])
def test_a_hash_whose_connector_is_gone_is_no_match_logged_once(make_app, legacy_app, export,
                                                                 caplog, tables):
    assert run_import(legacy_app).exit_code == 0
    url = legacy_app.config["DATABASE_URL"]
    if tables is None:
        tables = {"legacy": legacy_table(export, enabled=False)}
    later = make_app(database_url=url, DEPLOYMENT=deployment(tables))
    imported = credential_of(later, "alice@example.com").hash
    with caplog.at_level(logging.ERROR, logger="authenticators.imported_hashes"):
        for _ in range(2):
            response = SignIn(later.test_client()).sign_in("alice@example.com", PASSWORD)
            assert response.status_code == 200 and WRONG_CREDENTIALS in page_text(response)
    logged = [r for r in caplog.records if r.name == "authenticators.imported_hashes"]
    assert len(logged) == 1 and "legacy" in logged[0].getMessage()
    assert imported not in logged[0].getMessage()
    assert credential_of(later, "alice@example.com").hash == imported


# -- the same person, imported and signing in at the same moment ---------------------------------
def race(app, connector, found, email: str, delay: float) -> dict:
    """The import of ``found`` and the first sign-in of ``email``, released by one barrier."""
    barrier, results = threading.Barrier(2), {}

    def imports() -> None:
        barrier.wait()
        time.sleep(delay)  # stagger: the import lands before, during or after the sign-in
        with app.app_context(), db.connection_context():
            results["import"] = import_record(connector, found)

    def signs_in() -> None:
        barrier.wait()
        results["tokens"] = SignIn(app.test_client()).tokens(email, PASSWORD)

    threads = [threading.Thread(target=imports), threading.Thread(target=signs_in)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_an_import_and_a_first_sign_in_at_the_same_moment_make_one_user(make_app, tmp_path):
    rounds = 6
    rows = [row(f"racer{n}", n, SCHEMES["alice"]()) for n in range(rounds)]
    path = write_jsonl(tmp_path / "racers.jsonl", rows)
    app = make_app(DEPLOYMENT=deployment({"legacy": legacy_table(path)}))  # a SQLite file
    with app.app_context():
        connector = app.extensions["ferry.connectors"]["legacy"]
        records = [found for _where, found in connector.source.records()]
    for number, found in enumerate(records):
        email = f"racer{number}@example.com"
        results = race(app, connector, found, email, delay=number * 0.01)
        assert results["tokens"]["id_token"], number
        assert results["import"][0] in ("created", "already there"), results["import"]
        with app.app_context(), db.connection_context():
            users = list(User.select().where(User.email == email))
            links = list(LegacyLink.select().where(LegacyLink.subject == f"legacy-{number}"))
            assert len(users) == 1 and len(links) == 1 and links[0].user_id == users[0].id
        # Whoever won, the password is Ferry's own now, never the legacy hash again.
        assert credential_of(app, email).hash.startswith("$argon2id$")
    assert count_users(app) == rounds
