"""The integration hub in Chromium: an admin (signed in through the portal's own cookie) reads
the catalogue and a setup guide, adds a ``hashes`` connector from its generated form (a value of
the wrong type told at its field first), tests it against the bcrypt CSV export with a real
legacy password and sees the mapped profile, turns it off and sees the test answer
"unavailable"; then fills a ``saml`` form from pysaml2's metadata file. Fields are found by their
labels; axe-core finds no violation on the catalogue, the guide, the forms and the test results,
and every page is screenshotted."""

from __future__ import annotations

import bcrypt
import pytest
import requests
from playwright.sync_api import Page, expect

from tests.admin.conftest import make_admin, portal_cookie
from tests.browser.conftest import ARTIFACTS, ServedApp
from tests.conftest import deployment
from tests.connectors.hashes.legacy import people, write_csv
from tests.peers import axe
from tests.peers.axe import describe, violations
from tests.peers.pysaml2_idp import Pysaml2Idp

pytestmark = pytest.mark.browser

LEGACY_PASSWORD = "alice's legacy passphrase"


@pytest.fixture(scope="module", autouse=True)
def axe_script():
    return axe.ensure_installed()


@pytest.fixture
def page(browser):
    """A page whose context lets axe be injected (``bypass_csp``); the pages are unchanged."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, bypass_csp=True)
    context.set_default_timeout(8000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def hub(make_app, tmp_path, page):
    """Ferry served on loopback, with the browser signed in to its portal as an admin."""
    served = ServedApp("ferry")
    export = write_csv(tmp_path / "users.csv", people(
        alice=bcrypt.hashpw(LEGACY_PASSWORD.encode(), bcrypt.gensalt(4)).decode()))
    app = make_app(ISSUER=served.url, DEPLOYMENT=deployment())
    served.serve(app)
    page.context.add_cookies([portal_cookie(app, make_admin(app))])
    try:
        yield served.url, export
    finally:
        served.stop()


def checked(page: Page, screenshot, label: str) -> None:
    """Screenshot the page, then insist axe finds nothing."""
    screenshot(label)
    found = violations(page)
    assert not found, f"{label}: {describe(found)}"


def test_add_a_connector_and_test_it(hub, page: Page, screenshot):
    base, export = hub
    page.goto(f"{base}/admin/connectors")
    expect(page.get_by_role("heading", name="Integration hub")).to_be_visible()
    expect(page.get_by_role("heading", name="Catalogue")).to_be_visible()
    checked(page, screenshot, "catalogue")

    page.get_by_role("link", name="Setup guide for ldap").click()
    expect(page.get_by_role("heading", name="Setup in the directory:")).to_be_visible()
    checked(page, screenshot, "guide-ldap")
    page.get_by_role("link", name="Back to the integration hub").click()

    page.get_by_role("link", name="Add a hashes connector").click()
    page.get_by_label("Name", exact=True).fill("legacy-csv")
    page.get_by_label("source (required)").select_option("csv")
    page.get_by_label("path", exact=True).fill(str(export))
    page.get_by_label("mapping", exact=True).fill('{"email": "email", "given_name": "first_name"}')
    page.get_by_text("Timeouts, circuit breaker, rate limit, TLS").click()  # folded by default
    page.get_by_label("breaker_failures").fill("five")
    checked(page, screenshot, "form")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("Nothing was saved")
    expect(page.get_by_label("breaker_failures")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("breaker_failures")).to_have_accessible_description(
        "Consecutive unavailable answers that open the circuit breaker. Enter a whole number, e.g. 5.")
    checked(page, screenshot, "form-wrong-type")
    field = page.locator(".admin-field", has=page.get_by_label("breaker_failures"))
    field.screenshot(path=str(ARTIFACTS / "test_add_a_connector_and_test_it-wrong-type-field.png"))
    page.get_by_label("breaker_failures").fill("5")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").first).to_contain_text("The connector legacy-csv was saved")

    page.get_by_label("A legacy user's e-mail or username").fill("alice@example.com")
    page.get_by_label("Their password (sent to the legacy IdP only, never kept)").fill(LEGACY_PASSWORD)
    page.get_by_role("button", name="Test connection").click()
    result = page.locator("#test-result")
    expect(result).to_contain_text("The legacy IdP said yes")
    expect(result.locator("pre").first).to_contain_text('"given_name": "Alice"')
    checked(page, screenshot, "tested-yes")
    page.get_by_label("Their password (sent to the legacy IdP only, never kept)").fill("not hers")
    page.get_by_role("button", name="Test connection").click()
    expect(result).to_contain_text("The legacy IdP said no: wrong credentials")
    checked(page, screenshot, "tested-no")

    page.get_by_role("button", name="Turn legacy-csv off").click()
    expect(page.get_by_role("status").first).to_contain_text("legacy-csv is off")
    page.get_by_label("A legacy user's e-mail or username").fill("alice@example.com")
    page.get_by_label("Their password (sent to the legacy IdP only, never kept)").fill(LEGACY_PASSWORD)
    page.get_by_role("button", name="Test connection").click()
    expect(result).to_contain_text("disabled by an operator")
    page.get_by_role("link", name="Back to the integration hub").click()
    expect(page.get_by_role("row", name="legacy-csv")).to_contain_text("off: answers unavailable")
    checked(page, screenshot, "catalogue-with-connector")


def test_a_saml_form_filled_from_the_idps_metadata(hub, page: Page, screenshot, tmp_path):
    base, _export = hub
    with Pysaml2Idp() as idp:
        metadata = tmp_path / "idp-metadata.xml"
        metadata.write_bytes(requests.get(idp.metadata_url, timeout=10).content)
        page.goto(f"{base}/admin/connectors/new/saml")
        page.get_by_label("Name", exact=True).fill("corp-saml")
        page.get_by_label("Upload the IdP's metadata (XML)").set_input_files(str(metadata))
        page.get_by_role("button", name="Read the metadata into the form").click()
        expect(page.get_by_role("status").first).to_contain_text("Read from the IdP's metadata")
        expect(page.get_by_label("idp_entity_id")).to_have_value(idp.entity_id)
        checked(page, screenshot, "saml-filled")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("status").first).to_contain_text("corp-saml was saved")
        link = page.get_by_role("link", name="Download Ferry's SP metadata for corp-saml")
        assert link.get_attribute("href") == "/federate/corp-saml/metadata"
        checked(page, screenshot, "saml-saved")
