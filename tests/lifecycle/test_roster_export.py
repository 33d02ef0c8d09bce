"""``ferry roster export`` and ``ferry roster status`` against the database they report on.

A roster is imported through the CLI, some of its users migrate (``note_migrated``, as a
sign-in does), and the export of the remaining entries, the export of all, and the status
figures are each compared with what a query of ``roster_entry`` returns.
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from lifecycle import roster, roster_export
from models import RosterEntry, User, db
from tests.accounts import create_local_user
from tests.conftest import deployment

LEGACY = {"type": "ropc", "token_url": "http://127.0.0.1:9/token",
          "userinfo_url": "http://127.0.0.1:9/userinfo", "client_id": "ferry",
          "client_secret": "not-used"}
HEADER = ["connector", "subject", "email", "username", "phone", "legacy_last_signin_at",
          "user_id", "migrated_at", "attributes"]


@pytest.fixture
def app(make_app, tmp_path, monkeypatch):
    """Two connectors; ``legacy`` has a roster of 6 (2 migrated), ``other`` one of 2."""
    monkeypatch.setenv("FERRY_INSTANCE_PATH", str(tmp_path / "instance"))
    both = {"sign-in": {"steps": {"legacy": {"connectors": ["legacy", "other"]}}}}
    app = make_app(DEPLOYMENT=deployment({"legacy": LEGACY, "other": LEGACY}, journeys=both))
    legacy = tmp_path / "legacy.csv"
    legacy.write_text("subject,email,username,last_signin_at,dept,title\n" + "".join(
        f"s{i},u{i}@example.com,u{i},2024-05-0{i + 1}T08:30:00Z,dept {i},\"Dr, \"\"{i}\"\"\"\n"
        for i in range(6)), encoding="utf-8")
    other = tmp_path / "other.jsonl"
    other.write_text("".join(json.dumps({"email": f"o{i}@example.com", "tags": ["a", i]}) + "\n"
                             for i in range(2)), encoding="utf-8")
    runner = app.test_cli_runner()
    for path, name in ((legacy, "legacy"), (other, "other")):
        result = runner.invoke(args=["ferry", "roster", "import", str(path), "--connector", name])
        assert result.exit_code == 0, result.output
    for i in (1, 4):
        user_id = create_local_user(app, f"u{i}@example.com", "pw-0123456789")
        with app.app_context(), db.connection_context():
            roster.note_migrated(User.get_by_id(user_id), "legacy", f"s{i}")
    return app


def run(app, *args):
    return app.test_cli_runner().invoke(args=["ferry", "roster", *args])


def in_db(app, remaining: bool, connector: str | None = None) -> list[dict]:
    with app.app_context(), db.connection_context():
        query = RosterEntry.select().order_by(RosterEntry.id)
        if remaining:
            query = query.where(RosterEntry.user_id.is_null())
        if connector:
            query = query.where(RosterEntry.connector == connector)
        return list(query.dicts())


def as_text(entry: dict) -> dict[str, str]:
    """An entry of the database as the CSV export writes it."""
    def text(value):
        if value is None:
            return ""
        return value.isoformat() if hasattr(value, "isoformat") else str(value)
    row = {name: text(entry[name]) for name in HEADER if name != "attributes"}
    return {**row, "attributes": json.dumps(entry["attributes"], sort_keys=True,
                                            ensure_ascii=False)}


def test_export_remaining_equals_the_remaining_entries_of_the_database(app):
    result = run(app, "export", "--remaining")
    assert result.exit_code == 0, result.output
    reader = csv.DictReader(io.StringIO(result.stdout))
    assert reader.fieldnames == HEADER
    exported = list(reader)
    expected = in_db(app, remaining=True)
    assert exported == [as_text(entry) for entry in expected]
    assert [row["email"] for row in exported] == [
        "u0@example.com", "u2@example.com", "u3@example.com", "u5@example.com",
        "o0@example.com", "o1@example.com"]
    assert json.loads(exported[0]["attributes"]) == {"dept": "dept 0", "title": 'Dr, "0"'}
    assert exported[0]["legacy_last_signin_at"] == "2024-05-01T08:30:00"
    assert "6 remaining entries exported" in result.stderr
    assert run(app, "export").stdout == result.stdout  # --remaining is the default


def test_export_all_as_json_lines_to_a_file_by_connector(app, tmp_path):
    target = tmp_path / "all.jsonl"
    result = run(app, "export", "--all", "--connector", "legacy", "-o", str(target))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    expected = in_db(app, remaining=False, connector="legacy")
    assert [line["email"] for line in lines] == [entry["email"] for entry in expected]
    migrated = [line for line in lines if line["user_id"]]
    assert [line["subject"] for line in migrated] == ["s1", "s4"]
    assert all(line["migrated_at"] for line in migrated)
    assert lines[0]["attributes"] == {"dept": "dept 0", "title": 'Dr, "0"'}
    assert set(lines[0]) == set(HEADER)
    other = run(app, "export", "--connector", "other", "--format", "jsonl")
    assert [json.loads(line)["attributes"]["tags"] for line in other.stdout.splitlines()] == [
        ["a", 0], ["a", 1]]


def test_export_streams_page_by_page(app, monkeypatch):
    monkeypatch.setattr(roster_export, "PAGE_SIZE", 3)
    with app.app_context(), db.connection_context():
        ids = [entry["subject"] or entry["email"] for entry in roster_export.entries(remaining=False)]
    assert ids == [entry["subject"] or entry["email"] for entry in in_db(app, remaining=False)]
    assert len(ids) == len(set(ids)) == 8


def test_status_equals_the_database(app):
    result = run(app, "status")
    assert result.exit_code == 0, result.output
    table = [line.split() for line in result.stdout.splitlines()]
    assert table[0] == ["connector", "migrated", "remaining", "total"]
    figures = {row[0]: [int(value) for value in row[1:]] for row in table[1:]}
    for name in ("legacy", "other"):
        remaining = len(in_db(app, remaining=True, connector=name))
        total = len(in_db(app, remaining=False, connector=name))
        assert figures[name] == [total - remaining, remaining, total]
    assert figures["legacy"] == [2, 4, 6] and figures["(all)"] == [2, 6, 8]


def test_an_unknown_connector_is_refused(app):
    result = run(app, "export", "--connector", "nope")
    assert result.exit_code == 2 and "no connector named 'nope'" in result.stderr
