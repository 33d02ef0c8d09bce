"""``ferry roster import`` through the CLI runner, on real files and a real SQLite database.

Bad rows (no identifier, a malformed e-mail or phone, broken JSON, wrong types, duplicates and
would-be merges) are named by line while the good rows are kept; a BOM is skipped; a Latin-1
file imports with ``--encoding latin-1`` and gives bad rows, not a crash, without it; a second
import changes nothing; an interrupted import resumes where it stopped; a user who migrated
before the roster was loaded is counted once.
A million rows stream in flat memory: ``test_roster_import_memory.py``.
"""

from __future__ import annotations

import json
from datetime import datetime

import peewee
import pytest

from lifecycle import roster, roster_import
from lifecycle.roster_files import BOM
from models import RosterEntry, User, db
from tests.accounts import create_local_user
from tests.lifecycle.roster_import.conftest import (
    entries,
    import_,
    run,
    summary,
    write,
)


def test_good_rows_are_kept_and_bad_rows_named_by_line(app, tmp_path):
    path = write(tmp_path / "roster.csv", (
        "email,username,phone,last_signin_at,department\n"           # line 1
        "Alice@Example.COM,Alice,+49 (151) 2345-678,2024-03-01T10:00:00+02:00,Sales\n"
        ",,,,Nobody\n"                                                # 3: no identifier
        "not-an-email,carol,,,\n"                                     # 4
        "dave@example.com,dave,call me,,\n"                           # 5: phone
        "erin@example.com,erin,,yesterday,\n"                         # 6: timestamp
        "frank@example.com,frank\n"                                   # 7: field count
        "\n"                                                          # 8: blank, skipped
        'grace@example.com,grace,,,"Research\nand Development"\n'     # 9-10: one record
        "heidi@@example.com,heidi,,,\n"))                             # 11
    result = import_(app, path)
    assert result.exit_code == 1, result.output
    for expected in ("line 3: no identifier", "line 4: email 'not-an-email' is not an e-mail",
                     "line 5: phone 'call me' is not a phone number",
                     "line 6: last_signin_at 'yesterday' is not an ISO 8601",
                     "line 7: 2 fields where the header has 5",
                     "line 11: email 'heidi@@example.com'"):
        assert expected in result.stderr
    assert summary(result) == {"added": 2, "updated": 0, "unchanged": 0, "bad": 6, "matched": 0}
    alice, grace = entries(app)
    assert (alice["email"], alice["username"], alice["phone"]) == (
        "alice@example.com", "alice", "+491512345678")
    assert alice["legacy_last_signin_at"] == datetime(2024, 3, 1, 8, 0)  # as naive UTC
    assert alice["attributes"] == {"department": "Sales"}
    assert alice["source"] == "import:roster.csv" and alice["user_id"] is None
    assert grace["attributes"] == {"department": "Research\nand Development"}


def test_json_lines_with_broken_lines_and_wrong_types(app, tmp_path):
    path = write(tmp_path / "roster.jsonl", "\n".join([
        json.dumps({"email": "alice@example.com", "subject": "u-1", "groups": ["a", "b"],
                    "profile": {"title": "Dr"}, "age": 41}),
        '{"email": "bob@example.com",',                 # line 2: not JSON
        '["carol@example.com"]',                        # 3: not an object
        json.dumps({"email": 42}),                      # 4: wrong type
        json.dumps({"username": "dave", "last_signin_at": 1700000000}),  # 5: wrong type
        "",                                             # 6: blank
        json.dumps({"phone": "+15551234567", "email": None, "active": True}),
    ]) + "\n")
    result = import_(app, path)
    assert result.exit_code == 1
    assert "line 2: not JSON" in result.stderr
    assert "line 3: a JSON list, not an object" in result.stderr
    assert "line 4: email is a JSON int, not a string" in result.stderr
    assert "line 5: last_signin_at is a JSON int" in result.stderr
    assert "line 6" not in result.stderr
    alice, phone_only = entries(app)
    assert alice["subject"] == "u-1"
    assert alice["attributes"] == {"groups": ["a", "b"], "profile": {"title": "Dr"}, "age": 41}
    assert (phone_only["phone"], phone_only["email"]) == ("+15551234567", None)
    assert phone_only["attributes"] == {"active": True}


def test_duplicates_in_one_file_keep_the_first_row(app, tmp_path):
    path = write(tmp_path / "roster.csv", (
        "email,username,team\n"
        "alice@example.com,alice,red\n"        # 2
        "ALICE@example.com,Alice,red\n"        # 3: a duplicate of 2 once normalised
        "alice@example.com,bob,blue\n"         # 4: would merge alice and bob
        ",alice,green\n"                       # 5: a duplicate of 2 (fewer identifiers)
        "carol@example.com,,red\n"))           # 6
    result = import_(app, path)
    assert result.exit_code == 1
    assert "line 3: a duplicate of line 2" in result.stderr
    assert "line 4: the same email as line 2, but not the same identifiers" in result.stderr
    assert "line 5: a duplicate of line 2" in result.stderr
    assert [(e["email"], e["username"], e["attributes"]["team"]) for e in entries(app)] == [
        ("alice@example.com", "alice", "red"), ("carol@example.com", None, "red")]
    again = import_(app, path)  # the refused rows never flip the first one's attributes
    assert summary(again) == {"added": 0, "updated": 0, "unchanged": 2, "bad": 3, "matched": 0}


def test_duplicates_are_named_across_batches(app, tmp_path):
    with app.app_context(), db.connection_context():
        RosterEntry.create(connector="legacy", source="pull", email="erin@example.com",
                           username="erin")
    path = write(tmp_path / "roster.csv", "email,username\n" + "".join(
        f"user{i}@example.com,user{i}\n" for i in range(7))
        + "user1@example.com,user1\nerin@example.com,\n,erin\n")  # lines 9, 10, 11
    lines = []
    with app.app_context(), db.connection_context():
        summary_ = roster_import.import_file(
            path, "legacy", checkpoints=tmp_path / "cp", batch_size=3,
            report=lambda line, problem: lines.append((line, problem)))
    assert lines == [(9, "a duplicate of line 3"),
                     (11, "the same roster entry as line 10 (by another identifier): a duplicate")]
    assert (summary_.added, summary_.updated, summary_.bad) == (7, 0, 2)


def test_a_row_conflicting_with_an_existing_entry_is_bad_not_a_merge(app, tmp_path):
    import_(app, write(tmp_path / "first.csv", "email,username\na@example.com,alice\n"
                                               "b@example.com,bob\n"))
    before = entries(app)
    result = import_(app, write(tmp_path / "second.csv", "email,username\n"
                                "a@example.com,bob\na@example.com,carol\nc@example.com,carl\n"))
    assert result.exit_code == 1
    assert f"line 2: matches two roster entries (entry {before[0]['id']} by email and entry " \
           f"{before[1]['id']} by username)" in result.stderr
    assert f"line 3: has the email of roster entry {before[0]['id']} but another username" \
           in result.stderr
    after = entries(app)
    assert after[:2] == before and after[2]["username"] == "carl"
    assert entries(app, "other") == []  # the keys are unique per connector only
    assert import_(app, tmp_path / "first.csv", connector="other").exit_code == 0
    assert len(entries(app, "other")) == 2


def test_a_bom_is_skipped(app, tmp_path):
    path = tmp_path / "roster.csv"
    path.write_bytes(BOM + "email,name\nzoë@example.com,Zoë\n".encode())
    result = import_(app, path)
    assert result.exit_code == 0, result.output
    [zoe] = entries(app)
    assert zoe["email"] == "zoë@example.com" and zoe["attributes"] == {"name": "Zoë"}


def test_latin1_with_and_without_its_encoding(app, tmp_path):
    path = write(tmp_path / "roster.csv", "email,name\nana@example.com,Ana\n"
                 "jose@example.com,José\nmueller@example.de,Müller\n", encoding="latin-1")
    without = import_(app, path)
    assert without.exit_code == 1, without.output
    assert "line 3: byte 21 is not utf-8 (another --encoding?)" in without.stderr
    assert "line 4: byte 21 is not utf-8" in without.stderr
    assert [e["email"] for e in entries(app)] == ["ana@example.com"]
    with_it = import_(app, path, "--encoding", "latin-1")
    assert with_it.exit_code == 0, with_it.output
    assert summary(with_it) == {"added": 2, "updated": 0, "unchanged": 1, "bad": 0, "matched": 0}
    assert [e["attributes"]["name"] for e in entries(app)] == ["Ana", "José", "Müller"]
    refused = import_(app, path, "--encoding", "utf-16")
    assert refused.exit_code == 2 and "convert the file to UTF-8" in refused.stderr


def test_a_second_import_changes_nothing_and_a_changed_row_updates(app, tmp_path):
    text = ("subject,email,username,phone,last_signin_at,plan\n"
            + "".join(f"s{i},u{i}@example.com,u{i},+1555000{i:04d},2024-01-0{1 + i % 9},free\n"
                      for i in range(50)))
    path = write(tmp_path / "roster.csv", text)
    first = import_(app, path)
    assert summary(first) == {"added": 50, "updated": 0, "unchanged": 0, "bad": 0, "matched": 0}
    before = entries(app)
    second = import_(app, path)
    assert summary(second) == {"added": 0, "updated": 0, "unchanged": 50, "bad": 0, "matched": 0}
    assert entries(app) == before  # not even updated_at moved
    write(path, text.replace("s7,u7@example.com,u7,+15550000007,2024-01-08,free",
                             "s7,u7@example.com,u7,+15550000007,2024-02-08,paid"))
    third = import_(app, path)
    assert summary(third) == {"added": 0, "updated": 1, "unchanged": 49, "bad": 0, "matched": 0}
    changed = entries(app)[7]
    assert changed["attributes"] == {"plan": "paid"}
    assert changed["legacy_last_signin_at"] == datetime(2024, 2, 8)
    assert changed["added_at"] == before[7]["added_at"]


@pytest.mark.parametrize(("failure", "status"), [
    (peewee.OperationalError("disk I/O error"), 2), (KeyboardInterrupt(), 130)])
def test_an_interrupted_import_resumes_where_it_stopped(app, tmp_path, monkeypatch, failure,
                                                        status):
    rows = [f"u{i}@example.com,u{i}\n" for i in range(25)]
    rows[20] = "u3@example.com,u3\n"  # line 22: a duplicate of line 5, after the resume
    path = write(tmp_path / "roster.csv", "email,username\n" + "".join(rows))
    monkeypatch.setattr(roster_import, "BATCH_SIZE", 10)
    real_write = roster_import.BatchWriter.write
    written: list[int] = []

    def failing(self, batch):
        if written and written[-1] >= 21:  # the third batch: lines 22 to 26
            raise failure
        written.extend(row.line for row in batch)
        real_write(self, batch)

    monkeypatch.setattr(roster_import.BatchWriter, "write", failing)
    stopped = import_(app, path)
    assert stopped.exit_code == status, stopped.output
    assert "run the same command again to resume" in stopped.stderr
    assert len(entries(app)) == 20
    monkeypatch.setattr(roster_import.BatchWriter, "write",
                        lambda self, batch: (written.extend(row.line for row in batch),
                                             real_write(self, batch)))
    resumed = import_(app, path)
    assert resumed.exit_code == 1, resumed.output
    assert "resumed at line 22" in resumed.stderr
    assert "line 22: a duplicate of line 5" in resumed.stderr
    assert written == list(range(2, 27))  # every row written once, none again
    assert summary(resumed) == {"added": 24, "updated": 0, "unchanged": 0, "bad": 1, "matched": 0}
    assert sorted(e["email"] for e in entries(app)) == sorted(
        {f"u{i}@example.com" for i in range(25)} - {"u20@example.com"})
    assert list((tmp_path / "instance" / "roster-imports").iterdir()) == []
    again = import_(app, path)  # finished: a new run reads everything, and changes nothing
    assert summary(again) == {"added": 0, "updated": 0, "unchanged": 24, "bad": 1, "matched": 0}


def test_a_changed_file_does_not_resume_from_an_old_checkpoint(app, tmp_path, monkeypatch):
    path = write(tmp_path / "roster.csv", "email\n" + "".join(
        f"u{i}@example.com\n" for i in range(30)))
    monkeypatch.setattr(roster_import, "BATCH_SIZE", 10)
    monkeypatch.setattr(roster.__name__ + ".match_existing",
                        lambda connector: (_ for _ in ()).throw(peewee.OperationalError("gone")))
    assert import_(app, path).exit_code == 2
    monkeypatch.undo()
    monkeypatch.setattr(roster_import, "BATCH_SIZE", 10)
    write(path, "email\n" + "".join(f"u{i}@example.com\n" for i in range(31)))
    result = import_(app, path)
    assert "resumed" not in result.stderr
    assert summary(result) == {"added": 1, "updated": 0, "unchanged": 30, "bad": 0, "matched": 0}
    assert len(list((tmp_path / "instance" / "roster-imports").iterdir())) == 0


def test_a_user_who_migrated_before_the_import_is_counted_once(app, tmp_path):
    alice = create_local_user(app, "alice@example.com", "pw-alice-0123")
    bob = create_local_user(app, "bob@example.com", "pw-bob-0123")  # before the roster existed
    with app.app_context(), db.connection_context():
        assert roster.note_migrated(User.get_by_id(alice), "legacy", "sub-alice") == 1
    path = write(tmp_path / "roster.csv", "subject,email,username,dept\n"
                 "sub-alice,alice@example.com,alice,Sales\n"
                 ",bob@example.com,bob,Support\ncarol@example.com,,,\n".replace(
                     "carol@example.com,,,", ",carol@example.com,carol,Ops"))
    result = import_(app, path)
    assert result.exit_code == 0, result.output
    assert summary(result) == {"added": 2, "updated": 1, "unchanged": 0, "bad": 0, "matched": 1}
    by_email = {e["email"]: e for e in entries(app)}
    assert len(by_email) == 3
    assert by_email["alice@example.com"]["user_id"] == alice
    assert by_email["alice@example.com"]["source"] == "migration"
    assert by_email["alice@example.com"]["attributes"] == {"dept": "Sales"}
    assert by_email["bob@example.com"]["user_id"] == bob
    assert by_email["carol@example.com"]["user_id"] is None
    status = run(app, "status")
    assert status.stdout.splitlines()[1].split() == ["legacy", "2", "1", "3"]


def test_the_file_and_the_connector_are_checked_first(app, tmp_path):
    good = write(tmp_path / "roster.csv", "email\na@example.com\n")
    unknown = import_(app, good, connector="nope")
    assert unknown.exit_code == 2
    assert "no connector named 'nope' (configured: legacy, other)" in unknown.stderr
    no_key = import_(app, write(tmp_path / "names.csv", "name,dept\nA,B\n"))
    assert no_key.exit_code == 2 and "no column subject, email, username, phone" in no_key.stderr
    no_format = import_(app, write(tmp_path / "roster.txt", "email\na@example.com\n"))
    assert no_format.exit_code == 2 and "say --format csv" in no_format.stderr
    forced = import_(app, tmp_path / "roster.txt", "--format", "csv")
    assert forced.exit_code == 0 and entries(app) == entries(app)[:1]
    assert import_(app, write(tmp_path / "empty.csv", "")).exit_code == 2


def test_progress_follows_the_byte_position(app, tmp_path):
    path = write(tmp_path / "roster.csv", "email\n" + "".join(
        f"u{i}@example.com\n" for i in range(100)))
    offsets: list[int] = []
    with app.app_context(), db.connection_context():
        roster_import.import_file(path, "legacy", checkpoints=tmp_path / "cp", batch_size=10,
                                  progress=offsets.append)
    assert offsets == sorted(offsets) and len(offsets) == 11
    assert offsets[-1] == path.stat().st_size
    shown = import_(app, path)
    assert "importing roster.csv" in shown.stderr  # click's bar (a label only: no TTY here)


def test_many_bad_rows_are_counted_after_the_first_ones(app, tmp_path):
    path = write(tmp_path / "roster.csv", "email\n" + "bad\n" * 30 + "ok@example.com\n")
    result = import_(app, path, "--show", "5")
    assert result.stderr.count("is not an e-mail address") == 5
    assert "... and 25 more bad rows" in result.stderr
    assert summary(result)["bad"] == 30 and summary(result)["added"] == 1
