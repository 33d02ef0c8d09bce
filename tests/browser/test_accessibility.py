"""Every page of Ferry, in every theme, in English and German, at 1280 and 360 px: axe-core
(:mod:`tests.peers.axe`, WCAG 2.0/2.1 A and AA plus best practices) finds no violation.

One test per theme x language x width, each with a Ferry of its own and one browser context
(a virtual authenticator in it), walking the pages in the order a user meets them: the
passkey-only page, the sign-in page (plain, then after a wrong password), the code page, the PIN
page, "Forgot your password?" and its new-password page after a password that breaks a rule,
the profile page of sign-up (``prompt=create``), the passkey/PIN offer, set-a-PIN, consent, the
account choice, adding a passkey, the account page with it, the fresh proof and the new address
of "Change e-mail address", the sign-out confirmation, the signed-out page and two error pages.
Codes are read from a real SMTP server on loopback (aiosmtpd).

Each page state is saved as ``tests/artifacts/pages/<theme>-<lang>-<width>-<page>.png`` (a
full-page screenshot; ``tests/artifacts/`` is git-ignored and kept by CI). The themes are the
shipped look (``default``) and every theme folder under ``demo/themes/``, worn by every app and
as the deployment's ``default_theme``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from babel.support import Translations
from playwright.sync_api import Browser, Page, expect

from tests.accounts import create_local_user
from tests.authenticators.mail import MailServer
from tests.browser.conftest import ARTIFACTS, ServedApp
from tests.conftest import APP_REDIRECT, SPA_REDIRECT, deployment, pkce_pair
from tests.peers import axe
from tests.peers.axe import describe, violations

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
DEMO_THEMES = ROOT / "demo" / "themes"
TRANSLATIONS = ROOT / "translations"
PAGES = ARTIFACTS / "pages"
THEMES = ["default", *sorted(p.name for p in DEMO_THEMES.glob("*") if (p / "templates").is_dir())]
LANGUAGES = {"en": "en-US", "de": "de-DE"}  # the browser's locale: its Accept-Language
WIDTHS = {1280: 800, 360: 740}
EMAIL = "grace@example.com"
NEWCOMER = "newcomer@example.com"  # signs up
PASSWORD = "correct horse battery staple"
APP_ORIGINS = ("http://localhost:8000/**", "http://localhost:8001/**")


@pytest.fixture(scope="module", autouse=True)
def axe_script() -> Path:
    return axe.ensure_installed()


@pytest.fixture
def mail() -> Iterator[MailServer]:
    with MailServer() as server:
        yield server


@pytest.fixture
def ferry(make_app, mail, request) -> Iterator[ServedApp]:
    """Ferry wearing ``request.param``: ``test-app`` asks for consent, ``spa`` signs in with
    passkeys only; one local user; its mail goes to ``mail``."""
    theme = request.param
    served = ServedApp("ferry")
    tables = deployment()
    tables["apps"]["test-app"]["consent"] = "required"
    tables["apps"]["spa"]["journey"] = "passkey-sign-in"
    config = {}
    if theme != "default":
        branding = {"product_name": f"{theme.title()} ID"}
        if (DEMO_THEMES / theme / "static" / "logo.svg").exists():
            branding["logo"] = "logo.svg"
        for entry in tables["apps"].values():
            entry.update(theme=theme, branding=branding)
        config = {"THEME_FOLDERS": [str(DEMO_THEMES)], "DEFAULT_THEME": theme}
    try:
        served.serve(make_app(ISSUER=served.url, DEPLOYMENT=tables, **mail.config(), **config))
        create_local_user(served.app, EMAIL, PASSWORD)
        yield served
    finally:
        served.stop()


@pytest.fixture
def window(browser: Browser, request) -> Iterator[Page]:
    """A context of its own at ``(language, width)``, with a virtual authenticator.

    ``bypass_csp``: axe is added as a script the CSP would refuse; the pages are unchanged.
    The apps' redirect URIs answer "back at the app" without a server behind them.
    """
    language, width = request.param
    context = browser.new_context(locale=LANGUAGES[language], bypass_csp=True,
                                  viewport={"width": width, "height": WIDTHS[width]})
    context.set_default_timeout(10000)
    for origin in APP_ORIGINS:
        context.route(origin, lambda route: route.fulfill(body="back at the app", content_type="text/plain"))
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("WebAuthn.enable")
        cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
            "hasUserVerification": True, "isUserVerified": True, "automaticPresenceSimulation": True,
        }})
        yield page
    finally:
        context.close()


class Audit:
    """Checks page states with axe, saves each one's screenshot, and keeps what axe found."""

    def __init__(self, page: Page, ferry: ServedApp, mail: MailServer, theme: str, language: str,
                 width: int) -> None:
        self.page, self.ferry, self.mail = page, ferry, mail
        self.prefix = f"{theme}-{language}-{width}"
        self.gettext = Translations.load(str(TRANSLATIONS), [language]).gettext
        self.found: dict[str, list[dict]] = {}
        self.checked: list[str] = []

    def t(self, text: str, **values: str) -> str:
        """``text`` as the user reads it in this language."""
        return self.gettext(text) % values if values else self.gettext(text)

    def authorize(self, client_id: str, redirect_uri: str, **extra: str) -> None:
        _verifier, challenge = pkce_pair()
        self.page.goto(f"{self.ferry.url}/authorize?" + urlencode({
            "client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code",
            "scope": "openid email profile", "state": secrets.token_urlsafe(8),
            "code_challenge": challenge, "code_challenge_method": "S256", **extra}))

    def heading(self, text: str, **values: str) -> None:
        expect(self.page.get_by_role("heading", level=1, name=self.t(text, **values))).to_be_visible()

    def button(self, text: str, **values: str):
        return self.page.get_by_role("button", name=self.t(text, **values), exact=True)

    def check(self, name: str) -> None:
        """The page as it is now: its screenshot, then axe."""
        self.page.wait_for_load_state("load")
        self.page.evaluate("document.fonts.ready.then(() => true)")
        PAGES.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(PAGES / f"{self.prefix}-{name}.png"), full_page=True)
        self.checked.append(name)
        found = violations(self.page)
        if found:
            self.found[name] = found

    def report(self) -> str:
        return "\n".join(f"== {self.prefix}-{name} ({self.page.url})\n{describe(found)}"
                         for name, found in self.found.items())


def walk_every_page(audit: Audit) -> None:
    page, t = audit.page, audit.t

    # An app whose journey is passkeys only.
    audit.authorize("spa", SPA_REDIRECT)
    audit.heading("Sign in")
    expect(audit.button("Sign in with a passkey")).to_be_enabled()  # ferry-webauthn.js ran
    audit.check("passkey")

    # The sign-in page, and its error after a wrong password.
    audit.authorize("test-app", APP_REDIRECT)
    audit.heading("Sign in")
    audit.check("sign-in")
    page.get_by_label(t("E-mail address")).fill(EMAIL)
    page.get_by_label(t("Password"), exact=True).fill("not the password")
    audit.button("Sign in").click()
    expect(page.locator("#ferry-notice")).to_be_visible()
    audit.check("sign-in-error")

    # A code by e-mail, then back to the start.
    audit.button("E-mail me a code").click()
    audit.heading("Enter your code")
    audit.check("code")

    # This device's PIN, then "Sign in another way".
    audit.authorize("test-app", APP_REDIRECT)
    page.get_by_label(t("E-mail address")).fill(EMAIL)
    audit.button("Use my PIN on this device").click()
    audit.heading("Enter your PIN")
    audit.check("pin")
    audit.button("Sign in another way").click()
    audit.heading("Sign in")

    # "Forgot your password?" (before Grace has a passkey: the sign-in page's passkey autofill
    # would sign her in), then a new password that breaks a rule; left there, nothing changed.
    page.get_by_role("link", name=t("Forgot your password?")).click()
    audit.heading("Forgot your password?")
    audit.check("forgot-password")
    page.get_by_label(t("E-mail address")).fill(EMAIL)
    audit.button("Send me a code").click()
    audit.heading("Enter your code")
    page.get_by_label(t("Code"), exact=True).fill(audit.mail.last_code(EMAIL))
    audit.button("Continue").click()
    audit.heading("Set a new password")
    page.get_by_label(t("New password"), exact=True).fill("short1")
    page.get_by_label(t("New password again"), exact=True).fill("short1")
    audit.button("Save password").click()
    expect(page.get_by_label(t("New password"), exact=True)).to_have_attribute("aria-invalid", "true")
    audit.check("set-password-error")

    # Sign-up through prompt=create: the profile page, once the address has its code.
    audit.authorize("test-app", APP_REDIRECT, prompt="create")
    audit.heading("Create an account")
    page.get_by_label(t("E-mail address")).fill(NEWCOMER)
    audit.button("Send me a code").click()
    page.get_by_label(t("Code"), exact=True).fill(audit.mail.last_code(NEWCOMER))
    audit.button("Continue").click()
    audit.heading("Create your account")
    audit.check("sign-up")
    audit.authorize("test-app", APP_REDIRECT)
    audit.heading("Sign in")

    # The password: the offer of a passkey or a PIN, set-a-PIN ("Not now"), consent.
    page.get_by_label(t("E-mail address")).fill(EMAIL)
    page.get_by_label(t("Password"), exact=True).fill(PASSWORD)
    audit.button("Sign in").click()
    audit.heading("Sign in faster next time")
    expect(audit.button("Create a passkey")).to_be_enabled()
    audit.check("offer")
    audit.button("Use a PIN on this device instead").click()
    audit.heading("Set a PIN for this device")
    audit.check("set-pin")
    audit.button("Not now").click()
    audit.heading("Allow %(app)s?", app="Test app")
    audit.check("consent")
    audit.button("Allow").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(APP_REDIRECT)}\?code="))

    # Signed in: the account choice an app may ask for.
    audit.authorize("test-app", APP_REDIRECT, prompt="select_account")
    audit.heading("Choose an account")
    audit.check("account-choice")

    # The account page: add a passkey, then see it listed.
    page.goto(f"{audit.ferry.url}/")
    audit.heading("Your account")
    audit.button("Add a passkey").click()
    audit.heading("Add a passkey")
    expect(audit.button("Create a passkey")).to_be_enabled()
    audit.check("add-passkey")
    audit.button("Create a passkey").click()
    expect(page.get_by_label(t("Passkey name"))).to_be_visible()
    audit.check("account")

    # "Change e-mail address": the fresh proof (password, passkey or code), the new address.
    audit.button("Change e-mail address").click()
    audit.heading("Confirm it's you")
    expect(audit.button("Use a passkey")).to_be_enabled()
    audit.check("reauthenticate")
    page.get_by_label(t("Current password")).fill(PASSWORD)
    audit.button("Continue").click()
    audit.heading("Change your e-mail address")
    audit.check("change-email")
    audit.button("Cancel").click()
    audit.heading("Your account")

    # Signing out without a hint: the confirmation, then the signed-out page.
    page.goto(f"{audit.ferry.url}/logout")
    audit.heading("Sign out?")
    audit.check("sign-out")
    audit.button("Sign out").click()
    audit.heading("You are signed out")
    audit.check("signed-out")

    # Error pages: a sign-in that expired, an authorize request that is not valid.
    page.goto(f"{audit.ferry.url}/authorize/consent?request=long-gone")
    audit.heading("Your sign-in has expired")
    audit.check("error-expired")
    audit.authorize("no-such-app", APP_REDIRECT)
    audit.heading("This sign-in link is not valid")
    audit.check("error-authorize")


@pytest.mark.parametrize("window", [(lang, width) for lang in LANGUAGES for width in WIDTHS],
                         ids=[f"{lang}-{width}" for lang in LANGUAGES for width in WIDTHS],
                         indirect=True)
@pytest.mark.parametrize("ferry", THEMES, indirect=True)
def test_no_page_has_an_accessibility_violation(ferry: ServedApp, window: Page, mail: MailServer,
                                                request):
    theme = request.node.callspec.params["ferry"]
    language, width = request.node.callspec.params["window"]
    audit = Audit(window, ferry, mail, theme, language, width)
    walk_every_page(audit)
    assert len(audit.checked) == 20
    assert not audit.found, audit.report()
