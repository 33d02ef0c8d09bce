"""The migration dashboard in Chromium: an admin opens it from the portal's menu on a seeded
migration, sees the charts and opens a table view; axe-core finds no violation at 1280 and at
360 px; both widths are screenshotted. (``test_migration_in_browser.py`` is the migration
itself, end to end.)"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.admin.conftest import make_admin, portal_cookie
from tests.browser.conftest import ServedApp
from tests.conftest import deployment
from tests.lifecycle.test_stats import seed
from tests.peers import axe
from tests.peers.axe import describe, violations

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", autouse=True)
def axe_script():
    return axe.ensure_installed()


@pytest.fixture
def portal(make_app):
    """Ferry on loopback with a seeded migration."""
    served = ServedApp("ferry")
    app = make_app(ISSUER=served.url, DEPLOYMENT=deployment())
    seed(app)
    served.serve(app)
    try:
        yield served, app
    finally:
        served.stop()


@pytest.fixture
def page(browser, portal):
    """A page signed in to the portal as an admin (``bypass_csp``: axe is injected)."""
    _served, app = portal
    admin = make_admin(app, "ada@example.com")
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    context.set_default_timeout(5000)
    context.add_cookies([portal_cookie(app, admin)])
    try:
        yield context.new_page()
    finally:
        context.close()


def test_an_admin_reads_the_migration_dashboard(portal, page: Page, screenshot):
    served, _app = portal
    page.goto(f"{served.url}/admin/")
    page.get_by_role("link", name="Migration").click()
    expect(page.get_by_role("heading", level=1, name="Migration")).to_be_visible()
    expect(page.get_by_role("img", name="Migrated and remaining, by connector")).to_be_visible()
    for chart in ("Migrations per day", "Remaining users and the forecast", "Failures by reason",
                  "Legacy latency, p50 and p95", "Authenticator enrollment after migration"):
        expect(page.get_by_role("img", name=chart)).to_be_visible()
    expect(page.get_by_text("30 of 65 roster entries migrated (46%); 35 remaining.")).to_be_visible()
    page.get_by_text("Table: legacy latency").click()
    expect(page.get_by_role("row", name="ldap 7 2 5 ms 2,000 ms")).to_be_visible()
    expect(page.get_by_role("heading", name="Cut-over readiness")).to_be_visible()
    screenshot("admin-migration-1280")
    found = violations(page)
    assert not found, f"1280 px: {describe(found)}"
    page.set_viewport_size({"width": 360, "height": 740})
    screenshot("admin-migration-360")
    found = violations(page)
    assert not found, f"360 px: {describe(found)}"
    # Nothing but the scrolling table region is wider than the phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
