"""The admin portal in Chromium: an admin made with ``ferry admin create`` signs in with the
password, enrols a passkey (CDP virtual authenticator), signs out and in again with both, and
reaches the overview (axe-core on the sign-in, passkey and overview pages). Then the main paths
of the sections: rotate an app secret, add a connector and test it, map a field with the
preview, edit a journey, find a migrated user and revoke a passkey. axe-core finds no violation
on any portal page, and each page is screenshotted."""

from __future__ import annotations

import base64
import re

import bcrypt
import pytest
from playwright.sync_api import Page, expect
from webauthn.helpers import base64url_to_bytes

import store
from models import AdminPasskey, LegacyLink, PasskeyCredential, User, db
from tests.browser.conftest import ServedApp
from tests.browser.test_passkeys_in_browser import VirtualAuthenticator
from tests.conftest import deployment
from tests.connectors.hashes.legacy import people, write_csv
from tests.peers import axe
from tests.peers.axe import describe, violations

pytestmark = pytest.mark.browser

EMAIL, PASSWORD = "ada@example.com", "portal passphrase 2026"
LEGACY_PASSWORD = "alice's legacy passphrase"


@pytest.fixture(scope="module", autouse=True)
def axe_script():
    return axe.ensure_installed()


@pytest.fixture
def page(browser):
    """A page whose context lets axe be injected (``bypass_csp``); the pages are unchanged."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def portal(make_app, tmp_path):
    served = ServedApp("ferry")
    export = write_csv(tmp_path / "users.csv", people(
        alice=bcrypt.hashpw(LEGACY_PASSWORD.encode(), bcrypt.gensalt(4)).decode()))
    app = make_app(ISSUER=served.url, DEPLOYMENT=deployment())
    served.serve(app)
    made = app.test_cli_runner().invoke(args=["ferry", "admin", "create", EMAIL],
                                        input=f"{PASSWORD}\n{PASSWORD}\n")
    assert made.exit_code == 0, made.output
    try:
        yield served, app, export
    finally:
        served.stop()


def checked(page: Page, screenshot, label: str) -> None:
    """Screenshot the page, then insist axe finds nothing."""
    screenshot(f"admin-{label}")
    found = violations(page)
    assert not found, f"{label}: {describe(found)}"


def menu(page: Page, name: str):
    """A link of the portal's menu (the overview links to the sections too)."""
    return page.get_by_role("navigation", name="Portal").get_by_role("link", name=name, exact=True)


def sign_in(page: Page, base: str, enrol: bool, screenshot=None) -> None:
    """From a portal page to the overview: the password, then the passkey (created at the
    first sign-in). With ``screenshot``, each page is screenshotted and checked by axe."""
    page.goto(f"{base}/admin/")
    expect(page).to_have_url(f"{base}/admin/login?next=/admin/?")
    page.get_by_label("E-mail address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    heading = "Create your admin passkey" if enrol else "Use your passkey"
    expect(page.get_by_role("heading", name=heading)).to_be_visible()
    button = page.get_by_role("button", name="Create a passkey" if enrol else "Use my passkey")
    expect(button).to_be_enabled()  # ferry-webauthn.js found WebAuthn
    if screenshot:
        checked(page, screenshot, "passkey-create" if enrol else "passkey-use")
    button.click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page).to_have_url(f"{base}/admin/")


def test_an_admin_made_by_the_cli_signs_in_with_password_and_passkey(portal, page: Page, screenshot):
    served, app, _export = portal
    base = served.url
    with app.test_request_context("/admin/"), db.connection_context():
        LegacyLink.create(user=User.create(email="alice@example.com"), connector="legacy", subject="1")
        store.save("apps", "shop", {"name": "Shop", "redirect_uris": ["https://shop.example/cb"]},
                   actor="grace@example.com", expected_revision=None)
    authenticator = VirtualAuthenticator(page)
    page.goto(f"{base}/admin/login")
    checked(page, screenshot, "login")
    page.get_by_label("E-mail address").fill(EMAIL)
    page.get_by_label("Password").fill("not the password at all")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_have_text("That e-mail address and password don't match.")
    checked(page, screenshot, "login-refused")

    sign_in(page, base, enrol=True, screenshot=screenshot)
    [held] = authenticator.credentials()
    with app.app_context(), db.connection_context():
        [stored] = AdminPasskey.select()
        assert stored.admin.email == EMAIL
        assert base64url_to_bytes(stored.credential_id) == base64.b64decode(held["credentialId"])
    expect(page.get_by_text(f"{EMAIL} (admin)")).to_be_visible()
    expect(page.get_by_role("table").last).to_contain_text("grace@example.com created apps.shop")
    checked(page, screenshot, "overview")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out of the admin portal.")
    page.goto(f"{base}/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login"))
    sign_in(page, base, enrol=False, screenshot=screenshot)
    assert len(authenticator.credentials()) == 1  # the same passkey, no second one
    menu(page, "Journeys").click()
    expect(page).to_have_url(f"{base}/admin/journeys")


def test_the_portal_from_sign_in_to_every_main_path(portal, page: Page, screenshot):
    served, app, export = portal
    base = served.url
    VirtualAuthenticator(page)
    sign_in(page, base, enrol=True)

    # Register an app, then rotate its secret: the new one is shown once.
    menu(page, "Applications").click()
    checked(page, screenshot, "apps")
    page.get_by_role("link", name="Register an app").click()
    page.get_by_label("Client ID").fill("shop")
    page.get_by_label("Redirect URIs (one a line)", exact=True).fill("https://shop.example/callback")
    checked(page, screenshot, "app-form")
    page.get_by_role("button", name="Register").click()
    first = page.locator("code.apps-secret").inner_text()
    checked(page, screenshot, "app-secret")
    page.get_by_role("link", name="I have copied it").click()
    page.get_by_role("button", name="Rotate the client secret").click()
    second = page.locator("code.apps-secret").inner_text()
    assert first != second and len(second) >= 32

    # Add a connector and test it against the CSV export.
    page.goto(f"{base}/admin/connectors")
    checked(page, screenshot, "connectors")
    page.get_by_role("link", name="Add a hashes connector").click()
    page.get_by_label("Name", exact=True).fill("legacy-csv")
    page.get_by_label("source (required)").select_option("csv")
    page.get_by_label("path", exact=True).fill(str(export))
    checked(page, screenshot, "connector-form")
    page.get_by_role("button", name="Save").click()
    page.get_by_label("A legacy user's e-mail or username").fill("alice@example.com")
    page.get_by_label("Their password (sent to the legacy IdP only, never kept)").fill(LEGACY_PASSWORD)
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#test-result")).to_contain_text("The legacy IdP said yes")
    checked(page, screenshot, "connector-tested")

    # Map a field with the preview.
    page.goto(f"{base}/admin/schema/preview?connector=legacy-csv")
    page.get_by_label("Mapping (JSON: attribute → claim path with transforms)").fill(
        '{"email": "mail|lower|trim", "given_name": "first"}')
    page.get_by_label("Legacy profile (JSON)").fill('{"mail": " Ada@Example.COM ", "first": "Ada"}')
    page.get_by_role("button", name="Preview", exact=True).click()
    expect(page.get_by_role("table")).to_contain_text("ada@example.com")
    checked(page, screenshot, "mapping-preview")

    # Edit a journey: turn off the PIN button of the sign-in page.
    page.goto(f"{base}/admin/journeys/sign-in")
    checked(page, screenshot, "journey")
    page.get_by_role("textbox", name="TOML").fill('[steps.collect]\npin = false\non = { pin = "collect" }\n')
    page.get_by_role("button", name="Validate and save").click()
    expect(page.get_by_role("status").first).to_contain_text("was saved")

    # Find a migrated user and revoke a passkey.
    with app.app_context(), db.connection_context():
        user = User.create(email="grace@example.com", name="Grace")
        PasskeyCredential.create(user=user, credential_id="c-1", public_key=b"k", name="Grace's laptop")
    menu(page, "Users").click()
    page.get_by_label("E-mail, username, phone, user id or legacy subject").fill("grace@")
    page.get_by_role("button", name="Search").click()
    checked(page, screenshot, "users")
    page.get_by_role("link", name="grace@example.com").click()
    checked(page, screenshot, "user")
    page.get_by_role("button", name="Revoke passkey Grace's laptop").click()
    expect(page.get_by_role("status").first).to_contain_text("The passkey was removed")
    menu(page, "Audit log").click()
    checked(page, screenshot, "audit")
    expect(page.get_by_role("table")).to_contain_text("admin.user.passkey_revoked")
