"""The ``hashes`` connector's export file itself (duplicate identifiers or subjects, missing or
broken files, headerless CSVs, the file changing under it) and the settings checked at start-up."""

from __future__ import annotations

import logging

import pytest

from connectors import LegacyUnavailable, UserNotFound
from tests.connectors.contract import build_connector
from tests.connectors.hashes.legacy import (
    ALICE,
    FIREBASE,
    FIREBASE_HASH,
    FIREBASE_PASSWORD,
    FIREBASE_SALT,
    PASSWORD,
    config_problem,
    hashes_table,
    passlib,
    people,
    write_csv,
    write_jsonl,
)


# -- the file itself -----------------------------------------------------------------------------
def test_a_duplicate_identifier_stops_start_up_naming_both_lines(app, tmp_path):
    rows = people(alice="$1$x", bob="$1$y", dave="$1$z")
    rows[2]["email"] = "ALICE@example.com "  # the same person to a case-insensitive lookup
    problem = config_problem(app, hashes_table(write_csv(tmp_path / "u.csv", rows)))
    assert "connectors.legacy.path" in problem
    assert "line 4: duplicate identifier (first on line 2)" in problem


def test_a_duplicate_subject_stops_start_up(app, tmp_path):
    rows = people(alice="$1$x", bob="$1$y")
    rows[1]["id"] = rows[0]["id"]  # bob would sign in as alice's migrated user
    problem = config_problem(app, hashes_table(write_jsonl(tmp_path / "u.jsonl", rows)))
    assert "line 2: duplicate subject (first on line 1)" in problem


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("missing.csv", None, "cannot be read (No such file or directory)"),
    ("short.csv", "id,email,password_hash\n1,a@example.com,$1$x\n2,b@example.com\n",
     "line 3: 2 fields where the header has 3"),
    ("columns.csv", "id,mail,hash\n1,a@example.com,$1$x\n", "no column 'email', 'password_hash'"),
    ("quote.csv", 'id,email,password_hash\n1,"a@example.com"x,$1$x\n', "line 2:"),
    ("broken.jsonl", '{"id": 1, "email": "a@example.com"}\n{"id": 2,\n', "line 2: not JSON"),
    ("array.jsonl", '{"id": 1, "email": "a@example.com"}\n[1, 2]\n', "line 2: not a JSON object"),
    ("subject.jsonl", '{"email": "a@example.com", "password_hash": "$1$x"}\n', "line 1: no 'id'"),
    ("other.json", '{"accounts": []}', "neither a JSON array nor an object with a 'users' array"),
    ("latin1.csv", "id,email,password_hash\n1,j\xf6rg@example.com,$1$x\n".encode("latin-1"),
     "cannot be read"),
])
def test_a_missing_or_broken_file_stops_start_up_with_the_place(app, tmp_path, name, content, expected):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    problem = config_problem(app, hashes_table(path))
    assert str(path) in problem and expected in problem


def test_a_headerless_csv_takes_its_column_names_from_the_settings(app, tmp_path):
    # The shape of Firebase's CSV export (github.com/firebase/scrypt README), shortened.
    path = tmp_path / "firebase.csv"
    path.write_text(f"kYi4EvWQlQTKSfnJ3dRSP6IH3ed2,user1@test.com,false,{FIREBASE_HASH},{FIREBASE_SALT},"
                    "Test User 1\n")
    connector = build_connector(app, {
        "type": "hashes", "source": "csv", "path": str(path), "hash_field": "passwordHash",
        "csv_columns": ["localId", "email", "emailVerified", "passwordHash", "salt", "displayName"],
        "subject_field": "localId", "salt_field": "salt", "schemes": ["firebase_scrypt"], **FIREBASE})
    identity = connector.verify("user1@test.com", FIREBASE_PASSWORD)
    assert identity.subject == "kYi4EvWQlQTKSfnJ3dRSP6IH3ed2"
    assert identity.claims["displayName"] == "Test User 1"


def test_the_file_is_read_again_when_it_changes(app, tmp_path, caplog):
    path = write_csv(tmp_path / "users.csv", people(alice=passlib("md5_crypt")(PASSWORD)))
    connector = build_connector(app, hashes_table(path))
    with pytest.raises(UserNotFound):
        connector.verify("erin@example.com", PASSWORD)

    rows = people(alice=passlib("md5_crypt")(PASSWORD))
    rows.append({**rows[0], "id": "legacy-9", "email": "erin@example.com"})
    write_csv(path, rows)
    assert connector.verify("erin@example.com", PASSWORD).subject == "legacy-9"

    path.write_text("id,email\n")  # broken: users not yet migrated must wait, not be refused
    with pytest.raises(LegacyUnavailable) as broken:
        connector.verify(ALICE, PASSWORD)
    assert "no column 'password_hash'" in broken.value.reason

    write_csv(path, rows)
    assert connector.verify(ALICE, PASSWORD).subject == "legacy-1"

    path.unlink()  # the operator removed the export: nothing is served from memory any more
    with pytest.raises(LegacyUnavailable) as gone:
        connector.verify(ALICE, PASSWORD)
    assert "cannot be read" in gone.value.reason
    assert any(r.levelno == logging.WARNING and "unavailable" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("table", "expected"), [
    ({"schemes": ["firebase_scrypt"], "salt_field": "salt"}, "firebase_scrypt needs firebase_signer_key"),
    ({"schemes": ["firebase_scrypt"], **FIREBASE}, "firebase_scrypt needs salt_field"),
    ({**FIREBASE}, "firebase_* settings are set but firebase_scrypt is not in schemes"),
    ({"schemes": ["firebase_scrypt"], "salt_field": "salt", **FIREBASE, "firebase_signer_key": "not base64!"},
     "must be base64"),
    ({"schemes": ["salted_sha"], "salt_field": "salt"}, "describe it in salted_sha"),
    ({"salted_sha": {"algorithm": "sha256"}}, "salted_sha is set but not in schemes"),
    ({"salted_sha": {"algorithm": "rot13"}, "schemes": ["salted_sha"], "salt_field": "s"},
     "salted_sha.algorithm"),
    ({"schemes": ["bcrypt", "rot13"]}, "unknown hash format rot13"),
    ({"schemes": []}, "schemes"),
    ({"database_url": "sqlite:///x.db"}, "database_url: only for source = \"sql\""),
    ({"source": "sql", "database_url": "sqlite:///x.db", "query": "SELECT * FROM users WHERE email = 'x'"},
     "put :identifier where the identifier goes"),
    ({"source": "sql", "database_url": "sqlite:///x.db",
      "query": "SELECT * FROM users WHERE email = :identifier AND tenant = :tenant"},
     "unknown parameter :tenant"),
    ({"source": "sql", "database_url": "mysql://db/users", "query": "SELECT 1 WHERE :identifier"},
     "a sqlite:///... or postgresql://... URL is needed"),
    ({"source": "sql", "database_url": "sqlite:///x.db", "query": "SELECT :identifier"},
     "path: only for file sources"),
    ({"source": "xml"}, "connectors.legacy.source"),
    ({"csv_delimiter": ";;"}, "csv_delimiter"),
])
def test_settings_are_checked_at_start_up(app, export, table, expected):
    assert expected in config_problem(app, hashes_table(export, **table))
