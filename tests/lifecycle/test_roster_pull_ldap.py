"""``ferry roster pull`` against a real OpenLDAP ``slapd`` (:mod:`tests.peers.slapd`), seeded with
enough users to need several pages of the simple paged results control; slapd stopped mid-way
is a real outage, and its paging cookies really die with their connection."""

from __future__ import annotations

import pytest

from connectors import instances
from models import RosterEntry, db
from tests.accounts import create_local_user
from tests.conftest import SignIn, deployment
from tests.peers.slapd import Slapd

SEEDED = 25


@pytest.fixture(scope="module")
def slapd():
    with Slapd() as directory:
        directory.modify("".join(
            f"dn: uid=u{n:02d},{directory.people_dn}\nchangetype: add\nobjectClass: inetOrgPerson\n"
            f"uid: u{n:02d}\ncn: User {n}\nsn: User\nmail: U{n:02d}@Example.com\n\n"
            for n in range(SEEDED)))
        yield directory


@pytest.fixture
def app(make_app, tmp_path, slapd):
    if not slapd.running:
        slapd.start()
    table = {"type": "ldap", "url": slapd.url, "start_tls": True, "ca_file": slapd.ca_file,
             "bind_dn": slapd.bind_dn, "bind_password": slapd.bind_password,
             "base_dn": slapd.people_dn, "connect_timeout": 2, "read_timeout": 2,
             "breaker_failures": 100}
    app = make_app(DEPLOYMENT=deployment({"legacy": table}))
    app.instance_path = str(tmp_path / "instance")
    return app


def people(slapd: Slapd) -> dict[str, str]:
    """uid -> entryUUID of every entry under ou=people, as the administrator reads them."""
    import subprocess

    done = subprocess.run(
        ["ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-H", slapd.url, "-D", slapd.root_dn,
         "-w", slapd.root_password, "-b", slapd.people_dn, "(objectClass=inetOrgPerson)",
         "uid", "entryUUID"], capture_output=True, text=True, check=True, timeout=10)
    found, uid = {}, None
    for line in done.stdout.splitlines():
        if line.startswith("uid: "):
            uid = line[5:]
        elif line.startswith("entryUUID: "):
            found[uid] = line[11:]
    return found


def pull(app, *args: str):
    result = app.test_cli_runner().invoke(args=["ferry", "roster", "pull", "legacy",
                                                "--page-size", "10", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def entries(app) -> list[RosterEntry]:
    with app.app_context(), db.connection_context():
        return list(RosterEntry.select().order_by(RosterEntry.id))


def test_a_paged_pull_lists_every_entry_once(app, slapd):
    directory = people(slapd)

    result = pull(app)

    assert result.exit_code == 0, result.output
    stored = entries(app)
    listed = len(directory)  # nouuid's entryUUID is hidden from Ferry: listed by e-mail alone
    assert len(stored) == listed
    assert "in 4 pages" in result.stdout
    subjects = [e.subject for e in stored if e.subject]
    assert sorted(subjects) == sorted(uuid for uid, uuid in directory.items() if uid != "nouuid")
    u07 = next(e for e in stored if e.subject == directory["u07"])
    assert (u07.email, u07.attributes["cn"], u07.source) == ("u07@example.com", "User 7", "pull")
    assert next(e for e in stored if e.subject is None).email == "nouuid@example.com"
    twins = [e for e in stored if e.subject in (directory["twin1"], directory["twin2"])]
    # Two people of one address are never merged: the second is kept without it.
    assert sorted(e.email or "" for e in twins) == ["", "twin@example.com"]

    again = pull(app)
    assert f"0 added, 0 updated, {listed} unchanged" in again.stdout, again.output
    assert len(entries(app)) == listed


def test_slapd_stopped_mid_way_keeps_the_pages_and_the_rerun_duplicates_nothing(app, slapd):
    directory = people(slapd)
    with app.app_context():
        connector = instances()["legacy"]
    original, calls = connector.list_page, []

    def stop_before_the_third_page(cursor, size):
        calls.append(cursor)
        if len(calls) == 3:
            slapd.stop()
        return original(cursor, size)

    connector.list_page = stop_before_the_third_page
    try:
        failed = pull(app)
    finally:
        connector.list_page = original
        slapd.start()

    assert failed.exit_code == 1
    assert "legacy is unavailable on page 3" in failed.stderr
    assert "the 2 pages before it are stored" in failed.stderr
    assert len(entries(app)) == 20

    resumed = pull(app)  # the saved cookie died with slapd's connection: slapd refuses it

    assert resumed.exit_code == 0, resumed.output
    assert "resuming the pull of legacy after page 2" in resumed.stderr
    assert "listing again from the first page" in resumed.stderr
    stored = entries(app)
    assert len(stored) == len(directory)
    subjects = [e.subject for e in stored if e.subject]
    assert len(subjects) == len(set(subjects)) == len(directory) - 1


def test_users_who_migrated_are_matched(app, slapd):
    SignIn(app.test_client()).tokens("alice@example.com", slapd.password("alice@example.com"))
    create_local_user(app, "u03@example.com", "a local password 123")

    result = pull(app)

    assert result.exit_code == 0, result.output
    assert "1 matched to users who had migrated" in result.stdout
    stored = entries(app)
    assert len(stored) == len(people(slapd))  # alice's entry from her sign-in is reused
    alice = [e for e in stored if e.email == "alice@example.com"]
    assert len(alice) == 1 and alice[0].user_id and alice[0].source == "migration"
    assert alice[0].attributes["givenName"] == "Alice"
    assert next(e for e in stored if e.email == "u03@example.com").user_id is not None
