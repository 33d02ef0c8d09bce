"""The portal's overview: users and migrations by connector, the configuration by source,
every journey with its source, the store's revision and its latest changes (who, when, what),
links to the sections; for viewers and admins alike, and for nobody else."""

from __future__ import annotations

import re

import pytest

import store
from models import ConfigRevision, LegacyLink, User, db
from tests.admin.conftest import signed_in
from tests.authenticators.soft_authenticator import page_text
from tests.conftest import deployment
from tests.connectors.hashes.legacy import hashes_table, people, write_csv

APP = {"name": "Shop", "redirect_uris": ["https://shop.example/callback"]}


@pytest.fixture
def portal_app(make_app, tmp_path):
    """A Ferry with a ``legacy`` connector (a CSV export) in its configuration file."""
    export = write_csv(tmp_path / "users.csv", people())
    return make_app(DEPLOYMENT=deployment({"legacy": hashes_table(export)}))


@pytest.fixture
def populated(portal_app):
    """Three users, two of them migrated (by ``legacy``, and by a connector removed since), and
    an app saved twice in the portal."""
    with portal_app.test_request_context("/admin/"), db.connection_context():
        ada = User.create(email="ada@example.com")
        bob = User.create(email="bob@example.com")
        User.create(email="cyd@example.com")
        LegacyLink.create(user=ada, connector="legacy", subject="1")
        LegacyLink.create(user=bob, connector="retired", subject="2")
        LegacyLink.create(user=bob, connector="legacy", subject="3")
        first = store.save("apps", "shop", APP, actor="ada@example.com", expected_revision=None)
        store.save("apps", "shop", {**APP, "name": "The shop"}, actor="bob@example.com",
                   expected_revision=1)
    return first


def rows(page: str, heading_id: str) -> list[str]:
    """The rows of the table in the section labelled ``heading_id``, as text."""
    section = page.split(f'aria-labelledby="{heading_id}"', 1)[1].split("</section>", 1)[0]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
            for row in re.findall(r"<tr>(.*?)</tr>", section, re.S)][1:]


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_the_overview_counts_users_migrations_and_configuration(portal_app, populated, role):
    page = page_text(signed_in(portal_app, role).get("/admin/"))
    assert "3 users in Ferry, 2 of them migrated from a legacy IdP." in page
    assert rows(page, "h-users") == ["legacy 2", "retired not configured now 1"]
    # test-app and spa are the file's; shop is the portal's; Ferry ships its journeys.
    config = rows(page, "h-config")
    assert config[0] == "Applications 3 2 1"
    assert config[1] == "Connectors 1 1 0"
    assert config[2].startswith("Journeys ")
    assert "Configuration store revision 2." in page


def test_the_overview_lists_the_latest_changes_with_who_and_what(portal_app, populated):
    page = page_text(signed_in(portal_app, "viewer").get("/admin/"))
    changes = rows(page, "h-changes")
    assert changes[0].endswith("bob@example.com changed apps.shop (revision 2): name")
    assert changes[1].endswith("ada@example.com created apps.shop (revision 1)")


def test_only_the_ten_latest_changes_are_listed(portal_app):
    with portal_app.test_request_context("/admin/"), db.connection_context():
        store.save("apps", "shop", APP, actor="ada@example.com", expected_revision=None)
        for revision in range(1, 12):
            store.save("apps", "shop", {**APP, "name": f"Shop {revision}"}, actor="ada@example.com",
                       expected_revision=revision)
        assert ConfigRevision.select().count() == 12
    changes = rows(page_text(signed_in(portal_app).get("/admin/")), "h-changes")
    assert len(changes) == 10 and "(revision 12)" in changes[0] and "(revision 3)" in changes[-1]


def test_the_journeys_are_listed_with_their_source(make_app):
    partners = {"title": "Partners", "start": "key", "steps": {
        "key": {"type": "passkey_login", "on": {"success": "done", "failure": "key"}},
        "done": {"type": "complete"}}}
    app = make_app(DEPLOYMENT=deployment(journeys={"partners": partners}))
    page = page_text(signed_in(app).get("/admin/"))
    journeys = dict(row.split(" ", 1) for row in rows(page, "h-journeys"))
    assert journeys["partners"] == "configuration file"
    assert journeys["sign-in"] == "shipped with Ferry"
    assert '<a href="/admin/journeys/partners">partners</a>' in page


def test_the_overview_links_to_the_sections(portal_app, populated):
    page = page_text(signed_in(portal_app, "viewer").get("/admin/"))
    for path in ("/admin/users", "/admin/apps", "/admin/connectors", "/admin/journeys",
                 "/admin/audit", "/admin/journeys/sign-in", "/admin/connectors/legacy"):
        assert f'href="{path}"' in page, path
    assert 'href="/admin/connectors/retired"' not in page  # gone from the configuration


def test_nobody_signed_in_is_sent_to_the_sign_in_page(portal_app):
    answer = portal_app.test_client().get("/admin/")
    assert answer.status_code == 302 and answer.headers["Location"] == "/admin/login?next=/admin/?"


def test_a_fresh_deployment_says_nothing_happened_yet(portal_app):
    page = page_text(signed_in(portal_app).get("/admin/"))
    assert "Nobody has been migrated yet." in page
    assert "No configuration has been changed in the portal or by an import yet." in page
    assert "Configuration store revision 0." in page


def test_one_user_is_one_user(portal_app):
    with portal_app.app_context(), db.connection_context():
        User.create(email="ada@example.com")
    assert "1 user in Ferry, 0 of them migrated" in page_text(signed_in(portal_app).get("/admin/"))


@pytest.mark.parametrize("path, section", [
    ("/admin/", "Overview"), ("/admin/journeys", "Journeys"), ("/admin/journeys/sign-in", "Journeys"),
    ("/admin/journeys/sign-in/dry-run", "Journeys"), ("/admin/apps/test-app", "Applications"),
    ("/admin/connectors", "Integration hub"), ("/admin/audit", "Audit log"),
])
def test_the_menu_marks_the_section_of_every_page_and_only_it(admin_client, path, section):
    page = admin_client.get(path)
    assert page.status_code == 200, path
    marked = re.findall(r'aria-current="page">([^<]+)</a>', page.get_data(as_text=True))
    assert marked == [section]


def test_a_stale_form_in_the_portal_gets_the_portals_page_and_the_way_back(admin_client):
    page = admin_client.post("/admin/journeys/sign-in/steps", data={"csrf_token": "stale"})
    body = page_text(page)
    assert page.status_code == 400 and "This page has expired" in body
    assert "Nothing was changed." in body and "Ferry admin" in body
    assert 'href="/admin/journeys">Back to Journeys</a>' in page.get_data(as_text=True)
