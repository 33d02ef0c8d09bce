"""Portal: the journey dry run. Walked from the first step with a sample identifier and
password: a local user's password checked against its hash, a legacy user asked of a real
legacy store (a CSV export), create_user predicted (created, linked, conflict) by reading only,
outcomes chosen by hand for the steps that need a browser, the path drawn on the diagram, and
nothing created, changed or echoed; viewers may look, not run."""

from __future__ import annotations

import re

import bcrypt
import pytest

from models import AuditEvent, LegacyLink, PasswordCredential, User, UserSession, db
from tests.accounts import count_users, create_local_user
from tests.admin.conftest import csrf, signed_in
from tests.conftest import deployment
from tests.connectors.hashes.legacy import hashes_table, people, write_csv
from tests.journeys.selfservice import text

LEGACY_PASSWORD = "legacy pass 1"
LOCAL_PASSWORD = "a local passphrase 9"


@pytest.fixture
def legacy_app(make_app, tmp_path):
    """Ferry whose only connector, ``legacy``, reads a CSV export with alice (bcrypt)."""
    export = write_csv(tmp_path / "users.csv", people(
        alice=bcrypt.hashpw(LEGACY_PASSWORD.encode(), bcrypt.gensalt(4)).decode()))
    return make_app(DEPLOYMENT=deployment({"legacy": hashes_table(export)}))


@pytest.fixture
def admin(legacy_app):
    return signed_in(legacy_app)


def walk(client, journey="sign-in", **form):
    data = {"csrf_token": csrf(client, f"/admin/journeys/{journey}/dry-run"), **form}
    return client.post(f"/admin/journeys/{journey}/dry-run", data=data)


def rows(page: str) -> dict[str, str]:
    """The walk's table: step -> its row as text."""
    table = page[page.index('class="admin-table aj-walk"'):page.index("</table>")]
    found = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]:
        step = re.search(r'<span class="admin-code">([^<]+)</span>', row).group(1)
        found[step] = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row.split("<select")[0]))
    return found


def end(page: str) -> str:
    return re.search(r'id="dry-run-end">([^<]*)<', page).group(1)


def test_without_a_sample_each_step_is_assumed(legacy_app, admin):
    page = text(admin.get("/admin/journeys/sign-in/dry-run"))
    walked = rows(page)
    assert list(walked) == ["collect", "local", "policy", "offer", "done"]
    assert "assumed" in walked["collect"] and "submitted" in walked["collect"]
    assert "no password was typed" in walked["policy"]
    assert end(page) == "The journey ends at done (complete)."


def test_a_local_user_and_her_password(legacy_app, admin):
    create_local_user(legacy_app, "bea@example.com", LOCAL_PASSWORD)
    with legacy_app.app_context(), db.connection_context():
        before = PasswordCredential.get().hash
    good = text(walk(admin, identifier="Bea@Example.com", password=LOCAL_PASSWORD))
    walked = rows(good)
    assert "the sample identifier and password are posted" in walked["collect"]
    assert "success" in walked["local"] and "the password matches" in walked["local"]
    assert "the password passes Ferry's rules" in walked["policy"]
    assert "legacy" not in walked and end(good) == "The journey ends at done (complete)."
    assert LOCAL_PASSWORD not in good
    wrong = text(walk(admin, identifier="bea@example.com", password="not it at all"))
    assert "failure" in rows(wrong)["local"]
    assert end(wrong) == "Back at collect: the user sees that page again."
    with legacy_app.app_context(), db.connection_context():
        assert PasswordCredential.get().hash == before  # no rehash, nothing written
        assert not UserSession.select().exists()


def test_a_legacy_user_is_asked_of_the_connector_and_nobody_is_created(legacy_app, admin):
    page = text(walk(admin, identifier="alice@example.com", password=LEGACY_PASSWORD, connector="legacy"))
    walked = rows(page)
    assert list(walked) == ["collect", "local", "legacy", "create", "policy", "offer", "done"]
    assert "no Ferry user has this identifier" in walked["local"]
    assert "legacy said yes: legacy user legacy-1" in walked["legacy"]
    assert "created" in walked["create"] and "a dry run creates nobody" in walked["create"]
    assert '"given_name": "Alice"' in page and LEGACY_PASSWORD not in page
    assert count_users(legacy_app) == 0
    with legacy_app.app_context(), db.connection_context():
        audited = AuditEvent.get(AuditEvent.event == "admin.journey.dry_run")
        assert audited.details["connectors"] == ["legacy"] and audited.details["journey"] == "sign-in"
        assert not LegacyLink.select().exists()


@pytest.mark.parametrize(("identifier", "password", "outcome", "why"), [
    ("alice@example.com", "wrong", "wrong_credentials", "legacy refused the password"),
    ("zed@example.com", "whatever", "not_found", "legacy knows no such user"),
])
def test_a_legacy_refusal_leads_back(legacy_app, admin, identifier, password, outcome, why):
    page = text(walk(admin, identifier=identifier, password=password))  # the step's own connector
    assert outcome in rows(page)["legacy"] and why in rows(page)["legacy"]
    assert end(page) == "Back at collect: the user sees that page again."


def test_create_user_is_predicted_by_reading_only(legacy_app, admin):
    with legacy_app.app_context(), db.connection_context():
        other = User.create(email="alice@example.com")  # no password: local says no_credential
    conflict = rows(text(walk(admin, identifier="alice@example.com", password=LEGACY_PASSWORD)))
    assert "conflict" in conflict["create"] and f"Ferry user {other.id} has this e-mail" in conflict["create"]
    with legacy_app.app_context(), db.connection_context():
        LegacyLink.create(user=other, connector="legacy", subject="legacy-1")
    linked = rows(text(walk(admin, identifier="alice@example.com", password=LEGACY_PASSWORD)))
    assert "linked" in linked["create"] and "already migrated" in linked["create"]
    assert count_users(legacy_app) == 1


def test_outcomes_chosen_by_hand(legacy_app, admin):
    passkey = text(walk(admin, **{"choose.collect": "passkey"}))
    assert list(rows(passkey)) == ["collect", "done"] and "chosen by hand" in rows(passkey)["collect"]
    code = rows(text(walk(admin, **{"choose.collect": "code", "choose.verify-code": "migrate",
                                    "choose.create": "conflict"})))
    assert list(code) == ["collect", "send-code", "verify-code", "create", "conflict"]
    assert "this step needs a browser" in code["send-code"]
    switched = text(walk(admin, "add-passkey", **{"choose.session": "reauthenticate"}))
    assert list(rows(switched)) == ["session", "sign-in-again", "sign-in"]
    assert end(switched) == "The journey goes on in journey sign-in."
    bogus = rows(text(walk(admin, **{"choose.collect": "teleport"})))
    assert "assumed" in bogus["collect"]  # not an outcome of collect: ignored


def test_the_path_is_drawn_on_the_diagram(legacy_app, admin):
    page = walk(admin, **{"choose.collect": "passkey"}).get_data(as_text=True)
    svg = re.search(r"<svg.*?</svg>", page, re.S).group(0)
    assert re.search(r'class="step[^"]* walked" data-step="collect"', svg)
    assert re.search(r'class="step terminal walked" data-step="done"', svg)
    assert re.search(r'class="edge walked" data-source="collect" data-target="done"', svg)
    assert not re.search(r'walked" data-step="local"', svg)
    assert "<title>1. collect (collect)</title>" in svg and "<title>2. done (complete)</title>" in svg


def test_a_viewer_looks_but_does_not_run(legacy_app):
    viewer = signed_in(legacy_app, "viewer")
    page = viewer.get("/admin/journeys/sign-in/dry-run")
    assert page.status_code == 200 and "Only an admin can run a dry run" in text(page)
    refused = viewer.post("/admin/journeys/sign-in/dry-run", data={
        "csrf_token": csrf(viewer, "/admin/journeys/sign-in/dry-run"),
        "identifier": "alice@example.com", "password": LEGACY_PASSWORD})
    assert refused.status_code == 403
    with legacy_app.app_context(), db.connection_context():
        assert not AuditEvent.select().where(AuditEvent.event == "admin.journey.dry_run").exists()
    assert viewer.get("/admin/journeys/nope/dry-run").status_code == 404
