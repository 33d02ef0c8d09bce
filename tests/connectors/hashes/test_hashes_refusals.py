"""The ``hashes`` connector when one user's legacy data is unusable: a refusal of its own with a
reason, never "try again later" nor a wrong password, and how it combines with wrong passwords,
outages and unknown users at other sources of a fallback journey."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import bcrypt
import pytest

from models import AuditEvent, LegacyLink, db
from tests.accounts import count_users
from tests.conftest import SignIn, deployment
from tests.connectors.conftest import UNAVAILABLE, WRONG_CREDENTIALS, page_text, retry_after
from tests.connectors.hashes.legacy import (
    ACCOUNT_PROBLEM,
    ALICE,
    BOB,
    PASSWORD,
    WRONG,
    hashes_table,
    moved_away,
    passlib,
    people,
    sqlite_table,
    write_csv,
    write_jsonl,
)


# -- one user's unusable data is a refusal of its own, never "try again later" -------------------
def audit_events(app, event: str) -> list[dict]:
    with app.app_context(), db.connection_context():
        return [row.details for row in AuditEvent.select().where(AuditEvent.event == event)]


def fallback_app(make_app, tables: dict, order: list[str], **config):
    journeys = {"sign-in": {"steps": {"legacy": {"connectors": order}}}}
    return make_app(DEPLOYMENT=deployment(tables, journeys=journeys), **config)


@pytest.mark.parametrize(("stored", "reason"), [
    ("what is this", "hash format not recognised"),
    ("$2b$12$cut.short", "malformed bcrypt hash"),
])
def test_an_unusable_hash_refuses_that_user_with_a_reason_of_its_own(make_app, tmp_path, stored,
                                                                     reason):
    path = write_csv(tmp_path / "users.csv", people(
        alice=stored, bob=bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()))
    app = make_app(DEPLOYMENT=deployment({"legacy": hashes_table(path, breaker_failures=2)}),
                   FAILED_SIGNINS_PER_IDENTIFIER="2 per 15 minutes")
    for password in (PASSWORD, WRONG, PASSWORD):
        response = SignIn(app.test_client()).sign_in(ALICE, password)
        page = page_text(response)
        assert response.status_code == 200 and ACCOUNT_PROBLEM in page
        assert "contact support" in page and UNAVAILABLE not in page and WRONG_CREDENTIALS not in page
    [first, *_] = audit_events(app, "legacy.user_data_invalid")
    assert first["reason"].startswith(reason) and stored not in json.dumps(first)
    assert retry_after(app, ALICE) == 0  # no password was checked: nothing counted
    assert app.extensions["ferry.connectors"]["legacy"].guard.state == "closed"
    assert count_users(app) == 0
    SignIn(app.test_client()).tokens(BOB, PASSWORD)  # everyone else migrates as ever


def test_several_rows_for_one_identifier_refuse_that_user_not_everyone(make_app, legacy_sqlite):
    with sqlite3.connect(legacy_sqlite) as connection:
        connection.execute("INSERT INTO users (email, password_hash, first_name, is_active) "
                           "VALUES ('alice@example.com', '$1$x', 'Other', 1)")
    connection.close()
    app = make_app(DEPLOYMENT=deployment({"legacy": sqlite_table(legacy_sqlite, breaker_failures=2)}))
    for _ in range(3):
        assert ACCOUNT_PROBLEM in page_text(SignIn(app.test_client()).sign_in(ALICE, PASSWORD))
    assert [e["reason"] for e in audit_events(app, "legacy.user_data_invalid")] == [
        "the query returned several rows for one identifier"] * 3
    assert app.extensions["ferry.connectors"]["legacy"].guard.state == "closed"
    SignIn(app.test_client()).tokens(BOB, PASSWORD)


def test_a_profile_the_mapping_cannot_read_is_refused_after_the_right_password(make_app, tmp_path):
    path = write_jsonl(tmp_path / "users.jsonl", [
        {"id": "u1", "email": ALICE, "password_hash": passlib("md5_crypt")(PASSWORD),
         "first_name": ["Alice", "Pleasance"]},
        {"id": "u2", "email": BOB, "password_hash": passlib("md5_crypt")(PASSWORD),
         "first_name": "B" * 201}])
    app = make_app(DEPLOYMENT=deployment({"legacy": hashes_table(path)}))
    # A wrong password learns nothing about the record.
    assert WRONG_CREDENTIALS in page_text(SignIn(app.test_client()).sign_in(ALICE, WRONG))
    for who in (ALICE, BOB):
        assert ACCOUNT_PROBLEM in page_text(SignIn(app.test_client()).sign_in(who, PASSWORD))
    assert [e["reason"] for e in audit_events(app, "legacy.user_data_invalid")] == [
        "profile: given_name is a list, not text",
        "profile: given_name is longer than 200 characters"]
    assert count_users(app) == 0


def two_sources(tmp_path, alice_at_a: str | None, alice_at_b: str | None) -> tuple[dict, Path]:
    """Sources ``a`` and ``b``; alice's hash at each (None: not there). ``b``'s file is returned."""
    def source(name: str, value: str | None) -> Path:
        rows = [row for row in people(alice=value or "", bob=passlib("md5_crypt")(PASSWORD))
                if value is not None or row["email"] != ALICE]
        return write_csv(tmp_path / f"{name}.csv", rows)

    b = source("b", alice_at_b)
    return {"a": hashes_table(source("a", alice_at_a)), "b": hashes_table(b)}, b


PASSWORD_FOR_B = passlib("md5_crypt")("the password b has")


@pytest.mark.parametrize("order", [["a", "b"], ["b", "a"]])
def test_a_wrong_password_at_one_source_and_an_outage_at_another_says_we_could_not_check(
        make_app, tmp_path, order):
    tables, b_file = two_sources(tmp_path, passlib("md5_crypt")(PASSWORD), PASSWORD_FOR_B)
    app = fallback_app(make_app, tables, order, FAILED_SIGNINS_PER_IDENTIFIER="1 per 15 minutes")
    with moved_away(b_file):  # source b is down: alice's password may be the one it has
        for _ in range(3):
            page = page_text(SignIn(app.test_client()).sign_in(ALICE, "the password b has"))
            assert UNAVAILABLE in page and WRONG_CREDENTIALS not in page
        assert retry_after(app, ALICE) == 0
    # With b back, the same password is b's, and alice migrates from there.
    SignIn(app.test_client()).tokens(ALICE, "the password b has")
    with app.app_context(), db.connection_context():
        assert LegacyLink.get().connector == "b"


def test_unusable_data_at_one_source_and_a_wrong_password_at_another(make_app, tmp_path):
    tables, _b = two_sources(tmp_path, "what is this", passlib("md5_crypt")(PASSWORD))
    app = fallback_app(make_app, tables, ["a", "b"], FAILED_SIGNINS_PER_IDENTIFIER="1 per 15 minutes")
    page = page_text(SignIn(app.test_client()).sign_in(ALICE, WRONG))
    assert ACCOUNT_PROBLEM in page and WRONG_CREDENTIALS not in page
    assert retry_after(app, ALICE) > 0  # b did check the password, and refused it
    # The right password at b migrates alice from b: a's unusable record is no obstacle.
    app2 = fallback_app(make_app, tables, ["a", "b"])
    SignIn(app2.test_client()).tokens(ALICE, PASSWORD)


def test_unusable_data_at_one_source_and_an_outage_at_another_is_an_outage(make_app, tmp_path):
    tables, b_file = two_sources(tmp_path, "what is this", passlib("md5_crypt")(PASSWORD))
    app = fallback_app(make_app, tables, ["a", "b"])
    with moved_away(b_file):
        assert UNAVAILABLE in page_text(SignIn(app.test_client()).sign_in(ALICE, PASSWORD))
    assert retry_after(app, ALICE) == 0


def test_not_found_at_one_source_and_wrong_at_another_is_a_wrong_password(make_app, tmp_path):
    tables, _b = two_sources(tmp_path, None, passlib("md5_crypt")(PASSWORD))
    app = fallback_app(make_app, tables, ["a", "b"], FAILED_SIGNINS_PER_IDENTIFIER="1 per 15 minutes")
    assert WRONG_CREDENTIALS in page_text(SignIn(app.test_client()).sign_in(ALICE, WRONG))
    assert retry_after(app, ALICE) > 0
    assert audit_events(app, "legacy.not_found") == [{}]
