"""``ferry roster pull`` with the hash sources (a CSV export, a SQLite table) and the REST
listing, served here by a small real HTTP server that can fail on a chosen page.

What every pull must hold: each listed user is in the roster once; a second pull changes
nothing; a pull that fails half-way keeps the pages it stored and the next run resumes after
them, duplicating nothing; users who migrated before are matched; no hash is ever listed.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import threading
from pathlib import Path

import bcrypt
import pytest
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

from connectors import instances
from lifecycle.roster_pull import PullState
from models import RosterEntry, db
from tests.accounts import create_local_user
from tests.conftest import SignIn, deployment

PASSWORD = "correct horse battery staple"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
PEOPLE = 25


def person(number: int) -> dict:
    return {"id": f"legacy-{number}", "email": f"User{number:02d}@Example.com",
            "first_name": f"User {number}", "password_hash": HASH}


@pytest.fixture
def export(tmp_path) -> Path:
    path = tmp_path / "users.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["id", "email", "first_name", "password_hash"])
        writer.writeheader()
        writer.writerows(person(n) for n in range(PEOPLE))
        writer.writerow({"id": "legacy-nomail", "email": "", "first_name": "No Mail",
                         "password_hash": HASH})  # cannot sign in here, but the roster knows her
    return path


def hashes_table(export: Path) -> dict:
    return {"type": "hashes", "source": "csv", "path": str(export),
            "mapping": {"email": "email", "given_name": "first_name"}}


def make(make_app, tmp_path, connectors: dict):
    app = make_app(DEPLOYMENT=deployment(connectors), FAILED_SIGNINS_PER_IDENTIFIER="1000 per minute")
    app.instance_path = str(tmp_path / "instance")  # the pull's state file goes there
    return app


def pull(app, name: str = "legacy", *args: str):
    result = app.test_cli_runner().invoke(args=["ferry", "roster", "pull", name, *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a crash, not an exit status: show its traceback
    return result


def entries(app, connector: str = "legacy") -> list[RosterEntry]:
    with app.app_context(), db.connection_context():
        return list(RosterEntry.select().where(RosterEntry.connector == connector)
                    .order_by(RosterEntry.id))


# -- the hash file source ---------------------------------------------------------------------
def test_a_pull_lists_every_record_once_without_hashes(make_app, tmp_path, export):
    app = make(make_app, tmp_path, {"legacy": hashes_table(export)})

    result = pull(app, "legacy", "--page-size", "10")

    assert result.exit_code == 0, result.output
    stored = entries(app)
    assert len(stored) == PEOPLE + 1
    assert {e.subject for e in stored} == {f"legacy-{n}" for n in range(PEOPLE)} | {"legacy-nomail"}
    alice = next(e for e in stored if e.subject == "legacy-0")
    assert alice.email == "user00@example.com"  # normalised as sign-ins do
    assert alice.source == "pull" and alice.user_id is None
    assert alice.attributes == {"id": "legacy-0", "email": "User00@Example.com",
                                "first_name": "User 0"}
    assert all(HASH not in json.dumps(e.attributes) for e in stored)
    assert next(e for e in stored if e.subject == "legacy-nomail").email is None
    assert "page 3: 26 users listed" in result.stderr
    assert f"listed {PEOPLE + 1} users in 3 pages: {PEOPLE + 1} added, 0 updated" in result.stdout
    assert not Path(PullState.path(app.instance_path, "legacy")).exists()  # complete


def test_a_second_pull_changes_nothing_and_a_changed_record_is_updated(make_app, tmp_path, export):
    app = make(make_app, tmp_path, {"legacy": hashes_table(export)})
    assert pull(app).exit_code == 0
    before = [(e.id, e.email, e.attributes, e.updated_at) for e in entries(app)]

    again = pull(app)

    assert again.exit_code == 0, again.output
    assert "0 added, 0 updated, 26 unchanged" in again.stdout
    assert [(e.id, e.email, e.attributes, e.updated_at) for e in entries(app)] == before

    rows = export.read_text(encoding="utf-8").replace("User03@Example.com", "new03@example.com")
    export.write_text(rows, encoding="utf-8")
    changed = pull(app)
    assert "0 added, 1 updated, 25 unchanged" in changed.stdout, changed.output
    assert [e.email for e in entries(app) if e.subject == "legacy-3"] == ["new03@example.com"]


def test_users_who_migrated_before_are_matched_and_not_counted_twice(make_app, tmp_path, export):
    app = make(make_app, tmp_path, {"legacy": hashes_table(export)})
    SignIn(app.test_client()).tokens("user01@example.com", PASSWORD)  # lazy migration: an entry
    create_local_user(app, "user02@example.com", "another password 123")  # existed already

    result = pull(app)

    assert result.exit_code == 0, result.output
    stored = entries(app)
    assert len(stored) == PEOPLE + 1
    migrated = [e for e in stored if e.user_id is not None]
    assert sorted(e.subject for e in migrated) == ["legacy-1", "legacy-2"]
    assert "1 matched to users who had migrated" in result.stdout  # user01 was matched already
    first = next(e for e in stored if e.subject == "legacy-1")
    assert first.source == "migration" and first.attributes["first_name"] == "User 1"


def test_a_sql_source_lists_with_its_list_query_and_says_so_without(make_app, tmp_path):
    database = tmp_path / "legacy.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, "
                           "password_hash TEXT, name TEXT)")
        connection.executemany("INSERT INTO users VALUES (?, ?, ?, ?)",
                               [(n, f"u{n}@example.com", HASH, f"U {n}") for n in range(1, 8)])
    table = {"type": "hashes", "source": "sql", "database_url": f"sqlite:///{database}",
             "query": "SELECT * FROM users WHERE email = :identifier"}
    listing = {**table, "list_query": "SELECT * FROM users ORDER BY id LIMIT :limit OFFSET :offset"}
    app = make(make_app, tmp_path, {"legacy": listing})

    result = pull(app, "legacy", "--page-size", "3")

    assert result.exit_code == 0, result.output
    assert sorted(e.subject for e in entries(app)) == [str(n) for n in range(1, 8)]
    assert all("password_hash" not in e.attributes for e in entries(app))
    assert "in 3 pages" in result.stdout
    refused = pull(make(make_app, tmp_path, {"unlisted": table}), "unlisted")  # its own database
    assert refused.exit_code == 1
    assert "connector unlisted cannot list its users: a SQL source lists its users only with " \
           "list_query" in refused.stderr


def test_unknown_connectors_and_connectors_that_cannot_list_exit_1(make_app, tmp_path):
    app = make(make_app, tmp_path, {"corp": {
        "type": "ropc", "token_url": "http://127.0.0.1:9/token", "client_id": "ferry"}})

    nobody = pull(app, "nobody")
    oidc = pull(app, "corp")

    assert nobody.exit_code == 1 and "no connector named 'nobody'" in nobody.stderr
    assert oidc.exit_code == 1
    assert "connector corp cannot list its users: connectors of type 'ropc' cannot list" in oidc.stderr
    assert entries(app, "corp") == []


# -- the REST listing -------------------------------------------------------------------------
class ListingServer:
    """``GET /users?limit=N[&cursor=C]`` of the REST contract over a real socket; the cursor is
    the offset. ``fail_on`` (a page number) answers 500 to that page; ``requests`` counts."""

    def __init__(self, people: list[dict], token: str) -> None:
        self.people, self.token, self.fail_on, self.requests = people, token, None, []
        web = Flask("listing")

        @web.get("/users")
        def users():
            if request.headers.get("Authorization") != f"Bearer {self.token}":
                return jsonify(message="Unauthorized"), 401
            limit, offset = int(request.args["limit"]), int(request.args.get("cursor", "0"))
            page = offset // limit + 1
            self.requests.append(page)
            if page == self.fail_on:
                return "<h1>Internal Server Error</h1>", 500
            chunk = self.people[offset:offset + limit]
            following = str(offset + limit) if offset + limit < len(self.people) else None
            return jsonify(users=chunk, next=following)

        self.server = make_server("127.0.0.1", 0, web, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/users"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def listing():
    people = [{"subject": 1000 + n, "claims": {"email": f"Rest{n:02d}@Example.com",
                                              "given_name": f"Rest {n}", "phone": f"+1555000{n:04d}"},
               "last_signin_at": "2024-05-01T09:30:00Z" if n == 0 else None}
              for n in range(PEOPLE)]
    people.append({"claims": {"email": "nosubject@example.com"}})  # left out, logged
    server = ListingServer(people, token="list-t0ken")
    yield server
    server.close()


def rest_table(listing: ListingServer) -> dict:
    return {"type": "rest", "base_url": "http://127.0.0.1:9/api", "list_url": listing.url,
            "bearer_token": listing.token, "connect_timeout": 2, "read_timeout": 2,
            "mapping": {"email": "email", "given_name": "given_name", "phone": "phone"},
            "breaker_failures": 100}


def test_the_rest_listing_fills_the_roster(make_app, tmp_path, listing):
    app = make(make_app, tmp_path, {"legacy": rest_table(listing)})

    result = pull(app, "legacy", "--page-size", "10")

    assert result.exit_code == 0, result.output
    stored = entries(app)
    assert sorted(int(e.subject) for e in stored) == list(range(1000, 1000 + PEOPLE))
    first = next(e for e in stored if e.subject == "1000")
    assert (first.email, first.phone) == ("rest00@example.com", "+15550000000")
    assert first.legacy_last_signin_at.isoformat() == "2024-05-01T09:30:00"
    assert listing.requests == [1, 2, 3]


def test_a_listing_that_fails_half_way_resumes_and_duplicates_nothing(make_app, tmp_path, listing):
    app = make(make_app, tmp_path, {"legacy": rest_table(listing)})
    listing.fail_on = 3

    failed = pull(app, "legacy", "--page-size", "10")

    assert failed.exit_code == 1
    assert "legacy is unavailable on page 3" in failed.stderr
    assert "answered 500 to the listing" in failed.stderr
    assert "the 2 pages before it are stored" in failed.stderr
    assert len(entries(app)) == 20  # the committed pages are kept
    state = PullState.load(PullState.path(app.instance_path, "legacy"), "legacy")
    assert (state.pages, state.cursor) == (2, "20")

    listing.fail_on, listing.requests = None, []
    resumed = pull(app, "legacy", "--page-size", "10")

    assert resumed.exit_code == 0, resumed.output
    assert "resuming the pull of legacy after page 2" in resumed.stderr
    assert listing.requests == [3]  # only the page that was missing
    assert "listed 25 users in 3 pages: 25 added" in resumed.stdout
    subjects = [e.subject for e in entries(app)]
    assert len(subjects) == len(set(subjects)) == PEOPLE

    listing.requests = []
    restarted = pull(app, "legacy", "--page-size", "10", "--restart")
    assert listing.requests == [1, 2, 3]
    assert "0 added, 0 updated, 25 unchanged" in restarted.stdout
    assert len(entries(app)) == PEOPLE


def test_a_pull_passes_through_the_connector_guard(make_app, tmp_path, listing):
    app = make(make_app, tmp_path, {"legacy": {**rest_table(listing), "breaker_failures": 1}})
    listing.fail_on = 1
    assert pull(app).exit_code == 1
    listing.fail_on = None

    refused = pull(app)  # the breaker opened on the failed page: Ferry does not call

    assert refused.exit_code == 1
    assert "circuit breaker open for legacy" in refused.stderr
    assert listing.requests == [1]
    with app.app_context():
        assert instances()["legacy"].guard.state == "open"
