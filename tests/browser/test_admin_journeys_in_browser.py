"""The portal's journeys and user schema in Chromium, found by their labels as an operator
would: declare a custom attribute, map a legacy field to it with the preview (a claim path the
profile lacks is told at its field) and save the connector's mapping; edit a journey in a step
form (a route left out is told at the step, the TOML's error at its line), then walk it with a
dry run against a real legacy store (a CSV export). axe-core finds no violation on the journey
list, a journey page with its SVG, the editor with a problem shown, the dry run, the schema and
the preview, at 1280 and at 360 pixels; each state is screenshotted.

The browser is signed in to the portal by an ``AdminSession`` row and the portal's cookie (the
sign-in itself has its own tests).
"""

from __future__ import annotations

import json

import bcrypt
import pytest
from playwright.sync_api import Page, expect

import store
from models import User, db
from tests.admin.conftest import make_admin, portal_cookie
from tests.browser.conftest import ServedApp
from tests.conftest import deployment
from tests.connectors.hashes.legacy import hashes_table, people, write_csv
from tests.peers import axe
from tests.peers.axe import describe, violations

pytestmark = pytest.mark.browser

LEGACY_PASSWORD = "alice's legacy passphrase"


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
def portal(make_app, page: Page, tmp_path):
    """Ferry on loopback with a portal connector over a CSV export (alice, her bcrypt hash),
    and the browser signed in to the portal as an admin."""
    served = ServedApp("ferry")
    export = write_csv(tmp_path / "users.csv", people(
        alice=bcrypt.hashpw(LEGACY_PASSWORD.encode(), bcrypt.gensalt(4)).decode()))
    app = make_app(ISSUER=served.url, DEPLOYMENT=deployment())
    admin = make_admin(app)
    with app.test_request_context("/admin/"), db.connection_context():
        store.save("connectors", "legacy-csv", hashes_table(export), actor=admin.email,
                   expected_revision=None)
    served.serve(app)
    page.context.add_cookies([portal_cookie(app, admin)])
    try:
        yield served, app
    finally:
        served.stop()


def checked(page: Page, screenshot, label: str) -> None:
    """Screenshot the page, insist axe finds nothing, then the same at a phone's width."""
    screenshot(f"admin-journeys-{label}")
    found = violations(page)
    assert not found, f"{label}: {describe(found)}"
    page.set_viewport_size({"width": 360, "height": 800})
    try:
        screenshot(f"admin-journeys-{label}-360")
        found = violations(page)
        assert not found, f"{label} at 360 px: {describe(found)}"
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})


def test_map_a_field_with_the_preview(portal, page: Page, screenshot):
    served, app = portal
    page.goto(f"{served.url}/admin/")
    page.get_by_role("link", name="User schema").click()
    expect(page.get_by_role("heading", name="Standard attributes")).to_be_visible()
    checked(page, screenshot, "schema")

    # Declare employee_id: text, required, an identifier.
    page.get_by_label("Name of new attribute 1").fill("employee_id")
    page.get_by_label("new attribute 1 is required").check()
    page.get_by_label("new attribute 1 is an identifier").check()
    page.get_by_label("Description of new attribute 1").fill("HR number")
    page.get_by_role("button", name="Validate and save the schema").click()
    expect(page.get_by_role("status")).to_contain_text("The user schema was saved")
    expect(page.get_by_label("Name of employee_id")).to_have_value("employee_id")

    # The connector's mapping, with a claim path the profile does not have.
    page.get_by_role("link", name="legacy-csv: preview or edit").click()
    mapping = json.loads(page.get_by_label("Mapping (JSON: attribute → claim path with transforms)")
                         .input_value())
    page.get_by_label("Mapping (JSON: attribute → claim path with transforms)").fill(
        json.dumps({**mapping, "employee_id": "staff_no|trim"}, indent=2))
    page.get_by_label("Legacy profile (JSON)").fill(json.dumps(
        {"email": " Alice@Example.com", "emp": " E-17 ", "given_name": "Alice"}, indent=2))
    page.get_by_role("button", name="Preview", exact=True).click()
    row = page.get_by_role("row", name="employee_id")
    expect(row).to_contain_text("required, but absent: 'staff_no' is not in the legacy profile")
    expect(page.get_by_role("row", name="email")).to_contain_text('"alice@example.com"')
    checked(page, screenshot, "preview-problem")

    # Right path, and save it to the connector.
    page.get_by_label("Mapping (JSON: attribute → claim path with transforms)").fill(
        json.dumps({**mapping, "employee_id": "emp|trim|upper"}, indent=2))
    page.get_by_role("button", name="Preview", exact=True).click()
    expect(page.get_by_role("row", name="employee_id")).to_contain_text('"E-17"')
    expect(page.get_by_role("row", name="employee_id")).to_contain_text("custom attribute")
    checked(page, screenshot, "preview")
    page.get_by_role("button", name="Preview and save this mapping to legacy-csv").click()
    expect(page.get_by_role("status").first).to_contain_text("The mapping of legacy-csv was saved")
    with app.test_request_context("/admin/"), db.connection_context():
        assert store.view("connectors", "legacy-csv").data["mapping"]["employee_id"] == "emp|trim|upper"
    page.get_by_role("link", name="User schema").click()
    expect(page.get_by_role("region", name="Mappings: legacy claims to these attributes")) \
        .to_contain_text("emp|trim|upper")


def test_edit_a_journey_and_walk_it(portal, page: Page, screenshot):
    served, app = portal
    page.goto(f"{served.url}/admin/")
    page.get_by_role("navigation", name="Portal").get_by_role("link", name="Journeys").click()
    expect(page.get_by_role("row", name="sign-in Sign in 20")).to_contain_text("shipped with Ferry")
    checked(page, screenshot, "list")

    page.get_by_role("link", name="sign-in", exact=True).click()
    diagram = page.get_by_role("img", name="Journey sign-in: Sign in")
    expect(diagram).to_be_visible()
    # Pointing at a step highlights its arrows (the diagram's only script).
    page.locator('g.step[data-step="legacy"]').hover()
    expect(page.locator('g.edge.aj-hover[data-source="legacy"]').first).to_be_attached()
    checked(page, screenshot, "journey")

    # A step form: the notice shown when the legacy IdP is down gets new words.
    step = page.locator("#step-unavailable")
    step.locator("summary").click()
    step.get_by_label("title (required)").fill("The old sign-in is resting")
    page.get_by_role("button", name="Validate and save step unavailable").click()
    expect(page.get_by_role("status")).to_contain_text("The journey sign-in was saved")
    with app.test_request_context("/admin/"), db.connection_context():
        assert store.view("journeys", "sign-in").data == {
            "steps": {"unavailable": {"title": "The old sign-in is resting"}}}

    # A route left out: told at the step's route, nothing saved.
    step = page.locator("#step-local")
    step.locator("summary").click()
    step.get_by_label("no_credential →").select_option("")
    page.get_by_role("button", name="Validate and save step local").click()
    expect(page.get_by_role("alert")).to_contain_text("Nothing was saved")
    expect(page.locator("#step-local")).to_contain_text("outcome 'no_credential' is not routed")
    checked(page, screenshot, "step-problem")

    # The TOML with an unknown step type: the problem at the step's line.
    page.get_by_role("textbox", name="TOML").fill(
        '[steps.unavailable]\ntitle = "Resting"\n\n[steps.greeting]\ntype = "no_such_step"\n')
    page.get_by_role("button", name="Validate and save", exact=True).click()
    listing = page.get_by_role("list", name="The TOML, line by line, with its problems")
    expect(listing.locator("li.aj-line--invalid")).to_contain_text("unknown step type 'no_such_step'")
    expect(listing.locator("li.aj-line--invalid")).to_have_attribute("value", "4")
    checked(page, screenshot, "toml-problem")

    # The dry run with the legacy user: asked for real, nobody created.
    page.get_by_role("link", name="Dry run").click()
    page.get_by_label("Sample identifier").fill("alice@example.com")
    page.get_by_label("Sample password").fill(LEGACY_PASSWORD)
    page.get_by_label("Connector for legacy password steps").select_option("legacy-csv")
    page.get_by_role("button", name="Walk the journey").click()
    walked = page.get_by_role("table")
    expect(walked.get_by_role("row", name="legacy (legacy_password)")).to_contain_text("legacy-csv said yes")
    expect(walked.get_by_role("row", name="create (create_user)")).to_contain_text("created")
    expect(page.locator("#dry-run-end")).to_contain_text("The journey ends at done")
    expect(page.locator("g.step.walked")).to_have_count(7)
    checked(page, screenshot, "dry-run")
    with app.app_context(), db.connection_context():
        assert User.select().count() == 0
