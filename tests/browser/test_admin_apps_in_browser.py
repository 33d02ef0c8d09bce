"""The portal's applications in Chromium: register an app, rotate its secret (the new one shown
once, the old one refused at /token, the new one accepted), a refused save told next to its
field, the delete confirmation and "Try it". axe-core finds no violation on the list, the form
(empty, filled, with errors), the secret pages and the confirmation; each is screenshotted.

The browser is signed in to the portal by an ``admin_session`` row and the portal's cookie (the
sign-in itself is tested in ``test_admin_in_browser.py``)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from tests.accounts import create_local_user
from tests.admin.conftest import make_admin, portal_cookie
from tests.browser.conftest import ServedApp
from tests.conftest import SignIn, deployment
from tests.peers import axe
from tests.peers.axe import describe, violations

pytestmark = pytest.mark.browser

USER = ("zoe@example.com", "zoe's long passphrase")
CALLBACK = "http://localhost:8000/callback"


@pytest.fixture(scope="module", autouse=True)
def axe_script():
    return axe.ensure_installed()


@pytest.fixture
def portal(make_app):
    """Ferry served on loopback, with a local user who can sign in to any app."""
    served = ServedApp("ferry")
    app = make_app(ISSUER=served.url, DEPLOYMENT=deployment())
    served.serve(app)
    create_local_user(app, *USER)
    try:
        yield served, app
    finally:
        served.stop()


@pytest.fixture
def page(browser, portal):
    """A page signed in to the portal as an admin; axe may be injected (``bypass_csp``)."""
    served, app = portal
    admin = make_admin(app, "ada@example.com")
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    context.set_default_timeout(5000)
    context.add_cookies([portal_cookie(app, admin)])
    try:
        yield context.new_page()
    finally:
        context.close()


def checked(page: Page, screenshot, label: str) -> None:
    """Screenshot the page, then insist axe finds nothing."""
    screenshot(f"admin-apps-{label}")
    found = violations(page)
    assert not found, f"{label}: {describe(found)}"


def token_works(app, client_id: str, secret: str) -> bool:
    """A sign-in for the app, then the code exchanged at /token with ``secret``."""
    browser = SignIn(app.test_client(), client_id=client_id, redirect_uri=CALLBACK,
                     client_secret=secret)
    response = browser.sign_in(*USER)
    return browser.exchange(browser.code_from(response)).status_code == 200


def test_rotate_an_app_secret(portal, page: Page, screenshot):
    served, app = portal
    page.goto(f"{served.url}/admin/apps")
    expect(page.get_by_role("heading", name="Applications")).to_be_visible()
    expect(page.get_by_role("row", name="test-app")).to_contain_text("file, read-only")
    checked(page, screenshot, "list")

    page.get_by_role("link", name="Register an app").click()
    checked(page, screenshot, "form-new")
    page.get_by_label("Client ID").fill("shop")
    page.get_by_label("Name", exact=True).fill("Shop")
    page.get_by_label("Redirect URIs (one a line)", exact=True).fill(CALLBACK)
    page.get_by_label("Access token (seconds)").fill("900")
    page.get_by_role("button", name="Register").click()

    expect(page.get_by_role("heading", name="Client secret of shop")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("shown this once and never again")
    first = page.locator("code.apps-secret").inner_text()
    checked(page, screenshot, "secret-new")
    page.get_by_role("link", name="I have copied it").click()

    expect(page.get_by_role("heading", name="App shop")).to_be_visible()
    expect(page.get_by_label("Access token (seconds)")).to_have_value("900")
    assert first not in settled_content(page)
    checked(page, screenshot, "form-edit")
    assert token_works(app, "shop", first)

    page.get_by_role("button", name="Rotate the client secret").click()
    expect(page.get_by_role("heading", name="New client secret of shop")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("The old secret has stopped working")
    second = page.locator("code.apps-secret").inner_text()
    assert second != first and len(second) >= 43
    checked(page, screenshot, "secret-rotated")
    assert not token_works(app, "shop", first)
    assert token_works(app, "shop", second)

    page.get_by_role("link", name="I have copied it").click()
    expect(page.get_by_role("heading", name="App shop")).to_be_visible()  # loaded, not navigating
    shown = settled_content(page)
    assert second not in shown and first not in shown
    try:  # the secret page is not kept (no-store): going back does not show it again
        page.go_back()
    except PlaywrightError as error:
        assert "ERR_CACHE_MISS" in str(error)  # Chromium would have to post the form again
    assert second not in settled_content(page)


def settled_content(page: Page, tries: int = 20) -> str:
    """The page's HTML once it stopped navigating (a Back that hits a no-store page may still
    be loading the error or the page before it when asked)."""
    for _ in range(tries):
        page.wait_for_load_state()
        try:
            return page.content()
        except PlaywrightError as error:
            if "navigating" not in str(error):
                raise
    raise AssertionError("the page never stopped navigating")


def test_a_refused_save_is_told_at_the_field_and_delete_asks_first(portal, page: Page, screenshot):
    served, app = portal
    page.goto(f"{served.url}/admin/apps/new")
    page.get_by_label("Client ID").fill("shop")
    page.get_by_label("Public: a browser or mobile app").check()
    page.get_by_label("Redirect URIs (one a line)", exact=True).fill("http://shop.example/callback")
    page.get_by_label("Authorization code (seconds)").fill("soon")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("alert")).to_contain_text("Nothing was saved")
    redirect_uris = page.get_by_label("Redirect URIs (one a line)", exact=True)
    expect(redirect_uris).to_have_attribute("aria-invalid", "true")
    expect(redirect_uris).to_have_value("http://shop.example/callback")  # the input is kept
    expect(page.get_by_text("must be https (http only on localhost)")).to_be_visible()
    checked(page, screenshot, "form-errors")

    redirect_uris.fill(CALLBACK)
    page.get_by_label("Authorization code (seconds)").fill("")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("status")).to_contain_text("The app shop was registered.")
    expect(page.get_by_role("button", name="Rotate the client secret")).to_have_count(0)

    page.get_by_role("link", name="Delete…").click()
    expect(page.get_by_role("heading", name="Delete shop?")).to_be_visible()
    checked(page, screenshot, "delete-confirm")
    page.get_by_role("button", name="Delete shop").click()
    expect(page.get_by_role("status")).to_contain_text("The app shop was deleted.")
    expect(page.get_by_role("link", name="shop", exact=True)).to_have_count(0)


def test_try_it_starts_a_sign_in_for_the_app(portal, page: Page):
    served, _app = portal
    page.goto(f"{served.url}/admin/apps/test-app")
    page.get_by_role("link", name="Try it: sign in to this app").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(served.url)}/authorize\?"))  # its answer
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text("to continue to Test app")).to_be_visible()
