"""The migration lifecycle end to end against real legacy peers (slapd and the password-grant
server): a roster imported with the real command, a scripted wave of users signing in (right
and wrong passwords, an inactive account), and then the dashboard's numbers, ``/metrics`` and
``roster export --remaining`` each equal what the database holds."""

from __future__ import annotations

import json

from models import AuditEvent, RosterEntry, User, db
from tests.admin.conftest import signed_in
from tests.admin.test_migration import count, page_of, table_rows
from tests.conftest import SignIn, deployment, ropc_connector
from tests.connectors.ldap.conftest import ldap_table, slapd  # noqa: F401 (the session's slapd)
from tests.lifecycle.test_metrics import scrape, value

LDAP, ROPC = "corp-ldap", "old-oauth"
MIXED = "Mixed.Case@Example.com"  # the password-grant server matches user names exactly


def lifecycle_app(make_app, slapd, password_grant_server):  # noqa: F811
    tables = deployment({LDAP: ldap_table(slapd),
                         ROPC: ropc_connector(password_grant_server, send_identifier="as_typed")})
    tables["journeys"] = {"sign-in": {"steps": {"legacy": {"connectors": [LDAP, ROPC]}}}}
    return make_app(DEPLOYMENT=tables)


def import_roster(app, tmp_path, connector: str, emails: list[str]) -> None:
    path = tmp_path / f"{connector}.csv"
    path.write_text("email,department\n" + "".join(f"{e},sales\n" for e in emails))
    result = app.test_cli_runner().invoke(args=["ferry", "roster", "import", str(path),
                                                "--connector", connector])
    assert result.exit_code == 0, result.output


def signs_in(app, identifier: str, password: str) -> bool:
    response = SignIn(app.test_client()).sign_in(identifier, password)
    return response.status_code in (302, 303) and "code=" in response.headers.get("Location", "")


def database(app) -> dict:
    with app.app_context(), db.connection_context():
        by_connector = {}
        for name in (LDAP, ROPC):
            entries = RosterEntry.select().where(RosterEntry.connector == name)
            by_connector[name] = {
                "migrated": entries.where(RosterEntry.user_id.is_null(False)).count(),
                "remaining": entries.where(RosterEntry.user_id.is_null()).count(),
                "migrations": AuditEvent.select().where((AuditEvent.event == "user.migrated")
                                                        & (AuditEvent.connector == name)).count(),
            }
        remaining = {entry.email for entry in
                     RosterEntry.select().where(RosterEntry.user_id.is_null())}
        return {"connectors": by_connector, "remaining": remaining,
                "users": User.select().count()}


def test_roster_wave_dashboard_metrics_and_export_agree_with_the_database(
        make_app, slapd, password_grant_server, tmp_path):  # noqa: F811
    app = lifecycle_app(make_app, slapd, password_grant_server)
    import_roster(app, tmp_path, LDAP, ["alice@example.com", "bob@example.com",
                                        "uni@example.com", "nobody-yet@example.com",
                                        "left-long-ago@example.com"])
    import_roster(app, tmp_path, ROPC, [MIXED, "dave@example.com", "quiet@example.com"])
    before = scrape(app.test_client())

    wave = [("alice@example.com", slapd.password("alice@example.com"), True),
            ("bob@example.com", "not bob's password", False),
            ("bob@example.com", slapd.password("bob@example.com"), True),
            ("uni@example.com", slapd.password("uni@example.com"), True),
            (MIXED, password_grant_server.users[MIXED], True),
            ("dave@example.com", password_grant_server.users["dave@example.com"], False),
            ("alice@example.com", slapd.password("alice@example.com"), True)]  # now local
    assert [signs_in(app, who, password) for who, password, _ in wave] == [ok for *_, ok in wave]

    truth = database(app)
    assert truth["connectors"][LDAP] == {"migrated": 3, "remaining": 2, "migrations": 3}
    assert truth["connectors"][ROPC] == {"migrated": 1, "remaining": 2, "migrations": 1}
    assert truth["users"] == 4

    page = page_of(signed_in(app))
    progress = table_rows(page, "Table: migrated and remaining, by connector")
    for name, figures in truth["connectors"].items():
        assert [count(cell) for cell in progress[name][:2]] == [figures["migrated"],
                                                               figures["remaining"]]
    assert f"{len(truth['remaining'])} roster entries have not migrated." in page

    after = scrape(app.test_client())
    for name, figures in truth["connectors"].items():
        for state in ("migrated", "remaining"):
            assert value(after, "ferry_roster_users", connector=name, state=state) == figures[state]
        migrations = (value(after, "ferry_migrations_total", connector=name)
                      - value(before, "ferry_migrations_total", connector=name))
        assert migrations == figures["migrations"]

    exported = app.test_cli_runner().invoke(args=["ferry", "roster", "export", "--remaining",
                                                  "--format", "jsonl"])
    assert exported.exit_code == 0, exported.output
    rows = [json.loads(line) for line in exported.stdout.splitlines() if line.strip()]
    assert {row["email"] for row in rows} == truth["remaining"]
    assert {row["connector"] for row in rows} == {LDAP, ROPC}
    assert all(row["attributes"] == {"department": "sales"} for row in rows)
