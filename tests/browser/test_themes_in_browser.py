"""The sign-in page in the shipped look and in the sample theme (demo/themes/harbour), in
headless Chromium: both render their own way, the CSP lets each load what it needs, and
"Show password" works."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ServedApp
from tests.conftest import APP_REDIRECT, SPA_REDIRECT, deployment, pkce_pair
from tests.skin.conftest import DEMO_THEMES

pytestmark = pytest.mark.browser


@pytest.fixture
def ferry(make_app) -> Iterator[ServedApp]:
    served = ServedApp("ferry")
    tables = deployment()
    tables["apps"]["spa"].update(theme="harbour", branding={
        "product_name": "Harbour ID", "logo": "logo.svg", "colors": {"accent": "#0a6c74"}})
    try:
        served.serve(make_app(ISSUER=served.url, DEPLOYMENT=tables, THEME_FOLDERS=[str(DEMO_THEMES)]))
        yield served
    finally:
        served.stop()


def open_sign_in(page: Page, ferry: ServedApp, client_id: str, redirect_uri: str) -> list[str]:
    """Go to the app's sign-in page; returns the CSP violations and failed loads it saw."""
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
    _verifier, challenge = pkce_pair()
    page.goto(f"{ferry.url}/authorize?" + urlencode({
        "client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code",
        "scope": "openid", "code_challenge": challenge, "code_challenge_method": "S256"}))
    expect(page.get_by_role("heading", level=1, name="Sign in")).to_be_visible()
    page.wait_for_load_state("networkidle")
    return problems


def test_the_sign_in_page_in_both_themes(page: Page, ferry: ServedApp, screenshot):
    problems = open_sign_in(page, ferry, "test-app", APP_REDIRECT)
    expect(page.get_by_text("to continue to Test app")).to_be_visible()
    expect(page).to_have_title("Sign in · Ferry")
    shipped_font = page.eval_on_selector("h1", "h => getComputedStyle(h).fontFamily")
    screenshot("shipped")

    problems += open_sign_in(page, ferry, "spa", SPA_REDIRECT)
    expect(page).to_have_title("Sign in · Harbour ID")
    expect(page.get_by_text("to continue to Single-page app")).to_be_visible()
    expect(page.locator("img.ferry-logo")).to_be_visible()
    assert page.eval_on_selector("img.ferry-logo", "i => i.naturalWidth") > 0  # the theme's static file
    assert page.evaluate("document.fonts.check('600 2rem Fraunces')")  # the theme's own font
    assert "Fraunces" in page.eval_on_selector("h1", "h => getComputedStyle(h).fontFamily") != shipped_font
    accent = page.eval_on_selector("button[type=submit]", "b => getComputedStyle(b).backgroundColor")
    assert accent == "rgb(10, 108, 116)"  # the branding's accent, from /branding.css
    screenshot("harbour")
    assert problems == []


def test_show_password_reveals_and_masks_again(page: Page, ferry: ServedApp):
    open_sign_in(page, ferry, "spa", SPA_REDIRECT)
    password = page.get_by_label("Password")  # the only control labelled so
    password.fill("correct horse")
    show = page.get_by_role("button", name="Show password")
    expect(show).to_be_visible()  # shown by ferry-forms.js
    show.click()
    expect(password).to_have_attribute("type", "text")
    expect(show).to_have_attribute("aria-pressed", "true")
    show.click()
    expect(password).to_have_attribute("type", "password")
    expect(password).to_have_attribute("autocomplete", "current-password")
