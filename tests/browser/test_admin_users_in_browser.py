"""The portal's users and audit log in Chromium: an operator finds a migrated user by the
beginning of her e-mail, reads her migration record, revokes her passkey (warned that it is
her last way in), deletes her after the confirmation page, finds her legacy identity's
tombstone by its subject, and filters the audit log and downloads it as JSON Lines. axe-core
finds no violation on the search, user, delete-confirmation and audit pages (at 1280 and 360
pixels), and each state is screenshotted.

The browser is signed in to the portal by an ``AdminSession`` row and the portal's cookie (the
sign-in itself has its own tests); the user, her legacy link, her passkey and the trail of her
migration are rows made directly.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from models import AuditEvent, LegacyLink, PasskeyCredential, User, db
from tests.admin.conftest import make_admin, portal_cookie
from tests.browser.conftest import ServedApp
from tests.conftest import deployment
from tests.peers import axe
from tests.peers.axe import describe, violations

pytestmark = pytest.mark.browser

GRACE = "grace@example.com"


@pytest.fixture(scope="module", autouse=True)
def axe_script():
    return axe.ensure_installed()


@pytest.fixture
def page(browser):
    """A page whose context lets axe be injected (``bypass_csp``); the pages are unchanged."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    context.set_default_timeout(5000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def portal(make_app, page: Page):
    """Ferry served on loopback, Grace migrated from ``legacy-csv`` with one passkey, and the
    browser signed in to the portal as an admin."""
    served = ServedApp("ferry")
    app = make_app(ISSUER=served.url, DEPLOYMENT=deployment())
    served.serve(app)
    admin = make_admin(app)
    with app.app_context(), db.connection_context():
        grace = User.create(email=GRACE, name="Grace Hopper", email_verified=True)
        link = LegacyLink.create(user=grace, connector="legacy-csv", subject="legacy-7")
        AuditEvent.create(event="legacy.verified", connector="legacy-csv", client_id="test-app",
                          details={"subject": "legacy-7"}, at=link.migrated_at - timedelta(seconds=1))
        AuditEvent.create(event="user.migrated", connector="legacy-csv", client_id="test-app",
                          user_id=grace.id, at=link.migrated_at)
        PasskeyCredential.create(user=grace, credential_id="c-1", public_key=b"k", name="Grace's laptop")
    page.context.add_cookies([portal_cookie(app, admin)])
    try:
        yield served, app
    finally:
        served.stop()


def checked(page: Page, screenshot, label: str) -> None:
    """Screenshot the page, insist axe finds nothing, then the same at a phone's width."""
    screenshot(f"admin-users-{label}")
    found = violations(page)
    assert not found, f"{label}: {describe(found)}"
    page.set_viewport_size({"width": 360, "height": 800})
    try:
        found = violations(page)
        assert not found, f"{label} at 360 px: {describe(found)}"
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})


def test_find_a_migrated_user_revoke_her_passkey_delete_her_and_read_the_log(portal, page: Page,
                                                                             screenshot, tmp_path):
    served, app = portal
    page.goto(f"{served.url}/admin/")
    page.get_by_role("link", name="Users").click()
    page.get_by_label("E-mail, username, phone, user id or legacy subject").fill("grace@")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("table")).to_contain_text("Grace Hopper")
    checked(page, screenshot, "search")

    # Her page: the migration record, and her only way in, with the warning.
    page.get_by_role("link", name=GRACE).click()
    expect(page.get_by_role("heading", name=GRACE, level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Users")).to_have_attribute("aria-current", "page")
    migration = page.get_by_role("region", name="Migration")
    expect(migration).to_contain_text("legacy-csv")
    expect(migration).to_contain_text("legacy-7")
    expect(migration).to_contain_text("Came over with the legacy password · through the app test-app")
    expect(page.locator("#last-way-in")).to_contain_text("this user has one way in left")
    checked(page, screenshot, "user")
    page.get_by_role("button", name="Revoke passkey Grace's laptop").click()
    expect(page.get_by_role("status")).to_contain_text("The passkey was removed")
    expect(page.locator("#last-way-in")).to_contain_text("no way to sign in left")
    with app.app_context(), db.connection_context():
        assert not PasskeyCredential.select().exists()

    # Delete her, after the confirmation page; her legacy identity is kept as a tombstone.
    page.get_by_role("link", name="Delete this user…").click()
    expect(page.get_by_role("heading", name=f"Delete {GRACE}?")).to_be_visible()
    expect(page.get_by_label("Allow migrating again")).not_to_be_checked()
    checked(page, screenshot, "delete-confirmation")
    page.get_by_role("button", name=f"Delete {GRACE}").click()
    expect(page.get_by_role("status")).to_contain_text("The user was deleted")
    page.get_by_label("E-mail, username, phone, user id or legacy subject").fill("legacy-7")
    page.get_by_role("button", name="Search").click()
    tombstones = page.get_by_role("region", name="Deleted users with this legacy subject")
    expect(tombstones).to_contain_text("legacy-csv")
    expect(tombstones.get_by_role("button", name="Allow migrating legacy-7 again")).to_be_visible()
    checked(page, screenshot, "tombstone")

    # The audit log, filtered to what the operator did, then downloaded.
    page.get_by_role("link", name="Audit log").click()
    page.get_by_label("Event (starts with)").fill("admin.user")
    page.get_by_role("button", name="Filter").click()
    table = page.get_by_role("table")
    expect(table).to_contain_text("admin.user.passkey_revoked")
    expect(table).to_contain_text("admin.user.deleted")
    expect(table).not_to_contain_text("user.migrated")
    checked(page, screenshot, "audit")
    with page.expect_download() as downloading:
        page.get_by_role("link", name="Export these events as JSON Lines").click()
    download = downloading.value
    assert download.suggested_filename.endswith(".jsonl")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    events = [json.loads(line) for line in saved.read_text(encoding="utf-8").splitlines()]
    assert [event["event"] for event in events] == ["admin.user.deleted", "admin.user.passkey_revoked"]
    assert events[0]["details"]["tombstones"] == ["legacy-csv:legacy-7"]
