"""Account self-service in Chromium: forgot password, sign-up, change password and e-mail address,
and a legacy password that fails the policy.

Ferry is served on loopback with a real legacy directory that can look users up (the session's
OpenLDAP ``slapd``, :mod:`tests.peers.slapd`) and a real SMTP server (aiosmtpd,
:class:`tests.authenticators.mail.MailServer`): every one-time code is read from the mail the
user received. Users sign in to the demo app (an ordinary OpenID Connect client); sign-up starts
at ``test-app``'s authorize URL with ``prompt=create``, whose redirect URI the browser context
answers itself, and its code is exchanged at Ferry's token endpoint over HTTP. The passkey
offered after sign-up is made by a CDP virtual authenticator. The policy test's legacy store is a
real bcrypt CSV export (``hashes``). Fields are found by their labels, buttons by their names.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import bcrypt
import pytest
import requests
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import Browser, Page, expect

from demo import client_app
from models import LegacyLink, PasskeyCredential, User, UserSession, db
from tests.accounts import count_users, create_local_user
from tests.authenticators.mail import MailServer
from tests.browser.conftest import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, ServedApp
from tests.browser.test_migration_in_browser import (
    OFFER,
    WRONG_CREDENTIALS,
    claim_cell,
    expect_signed_in_to_demo_app,
    open_ferry_sign_in,
    submit_credentials,
)
from tests.browser.test_passkeys_in_browser import NO_AUTOFILL, VirtualAuthenticator
from tests.conftest import APP_REDIRECT, APP_SECRET, deployment, pkce_pair
from tests.connectors.hashes.legacy import hashes_table, people, write_csv
from tests.connectors.ldap.conftest import ldap_table, slapd  # noqa: F401 (the session's slapd)
from tests.journeys.selfservice import password_source

pytestmark = pytest.mark.browser

DORA = "dora@example.com"  # a local (migrated) user; not in the directory
DORA_OLD = "an old passphrase 1"
ALICE = "alice@example.com"  # in the directory only: not migrated
NEWCOMER = "newcomer@example.com"  # nobody's address yet
NEW_PASSWORD = "a brand new passphrase 7"
LOOKUPS = {  # the shipped journeys, told which connector looks up users not migrated yet
    "forgot-password": {"steps": {"send": {"lookup_connector": "corp-ldap"}}},
    "sign-up": {"steps": {"check": {"lookup_connector": "corp-ldap"}}},
}


# -- the servers ---------------------------------------------------------------------------------


@dataclass
class Site:
    """Ferry and the demo app, served; the mailbox Ferry's codes go to."""

    ferry: ServedApp
    demo: ServedApp
    mail: MailServer

    @property
    def ferry_app(self) -> Flask:
        assert self.ferry.app is not None
        return self.ferry.app


@pytest.fixture
def mail() -> Iterator[MailServer]:
    with MailServer() as server:
        yield server


@pytest.fixture
def serve(make_app, mail, monkeypatch) -> Iterator[Callable[..., Site]]:
    """``serve(connectors, journeys)``: Ferry with those legacy connectors and journey settings,
    sending its mail to ``mail``, and the demo app as one of its apps."""
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    served: list[ServedApp] = []

    def start(connectors: dict, journeys: dict | None = None) -> Site:
        ferry, demo = ServedApp("ferry"), ServedApp("demo-app")
        served.extend([demo, ferry])
        tables = deployment(connectors)
        tables["apps"][DEMO_CLIENT_ID] = {
            "name": "Demo app", "client_secret": DEMO_CLIENT_SECRET,
            "redirect_uris": [f"{demo.url}/callback"],
            "post_logout_redirect_uris": [f"{demo.url}/"],
        }
        if journeys:
            tables["journeys"] = journeys
        ferry.serve(make_app(ISSUER=ferry.url, DEPLOYMENT=tables, **mail.config()))
        demo.serve(client_app.create_app({
            "FERRY_URL": ferry.url, "DEMO_APP_URL": demo.url, "SECRET_KEY": "demo-test-key",
            "FERRY_CLIENT_ID": DEMO_CLIENT_ID, "FERRY_CLIENT_SECRET": DEMO_CLIENT_SECRET,
        }))
        return Site(ferry=ferry, demo=demo, mail=mail)

    try:
        yield start
    finally:
        for app in served:
            app.stop()


@pytest.fixture
def site(serve, slapd) -> Site:  # noqa: F811 (the session's slapd)
    """Ferry with the directory as its legacy IdP (and lookup), and Dora migrated already."""
    served = serve({"corp-ldap": ldap_table(slapd)}, LOOKUPS)
    create_local_user(served.ferry_app, DORA, DORA_OLD)
    return served


# -- what a user does ----------------------------------------------------------------------------


def heading(page: Page, name: str):
    return page.get_by_role("heading", level=1, name=name)


def enter_code_from_mailbox(page: Page, mail: MailServer, address: str, button: str = "Continue"):
    page.get_by_label("Code", exact=True).fill(mail.last_code(address))
    page.get_by_role("button", name=button, exact=True).click()


def choose_new_password(page: Page, password: str, button: str = "Save password") -> None:
    page.get_by_label("New password", exact=True).fill(password)
    page.get_by_label("New password again", exact=True).fill(password)
    page.get_by_role("button", name=button, exact=True).click()


def ask_for_a_reset_code(page: Page, site: Site, address: str) -> None:
    """From the demo app to Ferry's sign-in page, "Forgot your password?", then the address."""
    open_ferry_sign_in(page, site)
    page.get_by_role("link", name="Forgot your password?").click()
    expect(heading(page, "Forgot your password?")).to_be_visible()
    page.get_by_label("E-mail address").fill(address)
    page.get_by_role("button", name="Send me a code").click()
    expect(heading(page, "Enter your code")).to_be_visible()
    expect(page.get_by_text(f"If an account exists for {address}, we sent a code to it.")).to_be_visible()


def sign_out_of_demo_app(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are not signed in.")).to_be_visible()


def expect_only_the_new_password_works(page: Page, site: Site, address: str, old: str,
                                       new: str) -> str:
    """A fresh sign-in (no Ferry session left) with ``new`` reaches the app; ``old`` is refused.
    Returns the ``sub`` the app was given."""
    open_ferry_sign_in(page, site)
    submit_credentials(page, address, old)
    expect(page).to_have_url(f"{site.ferry.url}/login")
    expect(page.get_by_role("alert")).to_have_text(WRONG_CREDENTIALS)
    submit_credentials(page, None, new)
    sub = expect_signed_in_to_demo_app(page, site, address)
    sign_out_of_demo_app(page)
    return sub


def sign_in_to_account_page(page: Page, site: Site, address: str, password: str) -> None:
    open_ferry_sign_in(page, site)
    submit_credentials(page, address, password)
    expect_signed_in_to_demo_app(page, site, address)
    page.goto(f"{site.ferry.url}/")
    expect(heading(page, "Your account")).to_be_visible()


def prove_with_current_password(page: Page, password: str) -> None:
    expect(heading(page, "Confirm it's you")).to_be_visible()
    page.get_by_label("Current password").fill(password)
    page.get_by_role("button", name="Continue", exact=True).click()


# -- what Ferry holds ----------------------------------------------------------------------------


def user_row(site: Site, email: str) -> User | None:
    with site.ferry_app.app_context(), db.connection_context():
        return User.get_or_none(User.email == email)


def live_sessions(site: Site, user_id: str) -> int:
    with site.ferry_app.app_context(), db.connection_context():
        return UserSession.select().where((UserSession.user == user_id)
                                          & UserSession.ended_at.is_null()).count()


def notices(mail: MailServer, subject: str) -> list[str]:
    """To whom a notice e-mail with ``subject`` went, in order."""
    return [m["X-Envelope-To"] for m in mail.received if m["Subject"] == subject]


# -- forgot password -----------------------------------------------------------------------------


def test_a_migrated_user_resets_the_password_and_only_the_new_one_works(
    page: Page, site: Site, screenshot
):
    ask_for_a_reset_code(page, site, DORA)
    screenshot("code-page")
    enter_code_from_mailbox(page, site.mail, DORA)
    expect(heading(page, "Set a new password")).to_be_visible()
    screenshot("set-new-password")
    choose_new_password(page, NEW_PASSWORD)

    # Straight on to the app, signed in.
    sub = expect_signed_in_to_demo_app(page, site, DORA)
    dora = user_row(site, DORA)
    assert dora is not None and dora.id == sub
    assert password_source(site.ferry_app, DORA) == "local"
    assert notices(site.mail, "Your password was changed") == [DORA]
    sign_out_of_demo_app(page)

    assert expect_only_the_new_password_works(page, site, DORA, DORA_OLD, NEW_PASSWORD) == sub


def test_a_user_not_migrated_gets_the_code_at_the_directorys_address_and_is_migrated(
    page: Page, site: Site, slapd, screenshot  # noqa: F811
):
    assert user_row(site, ALICE) is None
    users_before = count_users(site.ferry_app)
    ask_for_a_reset_code(page, site, ALICE)
    assert user_row(site, ALICE) is None  # nothing is created before the code
    enter_code_from_mailbox(page, site.mail, ALICE)
    expect(heading(page, "Set a new password")).to_be_visible()
    choose_new_password(page, NEW_PASSWORD)

    sub = expect_signed_in_to_demo_app(page, site, ALICE)
    expect(claim_cell(page, "email_verified")).to_have_text("true")  # the code reached it
    screenshot("migrated-by-reset")
    assert count_users(site.ferry_app) == users_before + 1
    with site.ferry_app.app_context(), db.connection_context():
        [link] = LegacyLink.select().where(LegacyLink.user == sub)
        assert link.connector == "corp-ldap"
    [entry_uuid] = slapd.attribute(slapd.dn("alice"), "entryUUID")
    assert link.subject == entry_uuid
    assert password_source(site.ferry_app, ALICE) == "local"
    sign_out_of_demo_app(page)

    # The directory's password no longer opens the account; the new one does.
    assert expect_only_the_new_password_works(
        page, site, ALICE, slapd.password(ALICE), NEW_PASSWORD) == sub


def test_the_new_password_page_shows_the_password_and_ticks_the_length_rule(
    page: Page, site: Site, screenshot
):
    ask_for_a_reset_code(page, site, DORA)
    enter_code_from_mailbox(page, site.mail, DORA)
    expect(heading(page, "Set a new password")).to_be_visible()
    new, again = page.get_by_label("New password", exact=True), page.get_by_label("New password again")
    length_rule = page.get_by_role("listitem").filter(has_text="At least 8 characters.")

    # The length rule: not met while the password is short, met from the eighth character on.
    expect(length_rule).to_have_count(1)
    expect(length_rule).not_to_have_class(re.compile(r"\bferry-rule--met\b"))
    new.press_sequentially("1234567")
    expect(length_rule).not_to_have_class(re.compile(r"\bferry-rule--met\b"))
    new.press_sequentially("8")
    expect(length_rule).to_have_class(re.compile(r"\bferry-rule--met\b"))
    new.press("Backspace")
    expect(length_rule).not_to_have_class(re.compile(r"\bferry-rule--met\b"))

    # "Show password": one button per field, each shows and hides its own field only.
    new.fill(NEW_PASSWORD)
    again.fill(NEW_PASSWORD)
    show_new, show_again = page.get_by_role("button", name="Show password").all()
    expect(new).to_have_attribute("type", "password")
    show_new.click()
    expect(new).to_have_attribute("type", "text")
    expect(show_new).to_have_attribute("aria-pressed", "true")
    expect(again).to_have_attribute("type", "password")
    expect(show_again).to_have_attribute("aria-pressed", "false")
    expect(new).to_have_value(NEW_PASSWORD)
    screenshot("password-shown")
    show_new.click()
    expect(new).to_have_attribute("type", "password")
    expect(show_new).to_have_attribute("aria-pressed", "false")

    # Shown when the form is sent: masked again first, and the password is saved as typed.
    show_new.click()
    expect(new).to_have_attribute("type", "text")
    with page.expect_navigation():
        page.get_by_role("button", name="Save password").click()
    expect_signed_in_to_demo_app(page, site, DORA)
    sign_out_of_demo_app(page)
    expect_only_the_new_password_works(page, site, DORA, DORA_OLD, NEW_PASSWORD)


def test_a_new_password_that_breaks_a_rule_is_told_and_changes_nothing(
    page: Page, site: Site, screenshot
):
    ask_for_a_reset_code(page, site, DORA)
    enter_code_from_mailbox(page, site.mail, DORA)
    choose_new_password(page, "password123")
    expect(heading(page, "Set a new password")).to_be_visible()
    error = "This password is too common: it is among the first ones attackers try. Choose another."
    expect(page.get_by_text(error)).to_be_visible()
    # The error is tied to the field, so a screen reader reads it with the field.
    expect(page.get_by_label("New password", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("New password", exact=True)).to_have_accessible_description(
        re.compile(re.escape(error)))
    screenshot("password-too-common")
    assert notices(site.mail, "Your password was changed") == []
    page.context.clear_cookies()  # this browser gives up: a fresh one signs in as before
    open_ferry_sign_in(page, site)
    submit_credentials(page, DORA, DORA_OLD)
    expect_signed_in_to_demo_app(page, site, DORA)


# -- sign-up -------------------------------------------------------------------------------------


class RoutedApp:
    """``test-app`` of the deployment, as far as a browser sees it: an authorize URL, a redirect
    URI the browser context answers itself, and the code exchanged at Ferry's token endpoint."""

    def __init__(self, page: Page, ferry_url: str) -> None:
        self.ferry_url = ferry_url
        self.verifier, self.challenge = pkce_pair()
        self.state, self.nonce = secrets.token_urlsafe(8), secrets.token_urlsafe(8)
        page.context.route(f"{APP_REDIRECT.rsplit('/', 1)[0]}/**", lambda route: route.fulfill(
            body="back at the app", content_type="text/plain"))

    def authorize_url(self, **extra: str) -> str:
        return f"{self.ferry_url}/authorize?" + urlencode({
            "client_id": "test-app", "redirect_uri": APP_REDIRECT, "response_type": "code",
            "scope": "openid email profile", "state": self.state, "nonce": self.nonce,
            "code_challenge": self.challenge, "code_challenge_method": "S256", **extra})

    def code_from(self, url: str) -> str:
        assert url.startswith(f"{APP_REDIRECT}?"), url
        query = parse_qs(urlsplit(url).query)
        assert query["state"] == [self.state]
        return query["code"][0]

    def id_token_claims(self, code: str) -> dict:
        basic = base64.b64encode(f"test-app:{APP_SECRET}".encode()).decode()
        answer = requests.post(f"{self.ferry_url}/token", timeout=10, headers={
            "Authorization": f"Basic {basic}"}, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": APP_REDIRECT,
            "code_verifier": self.verifier})
        assert answer.status_code == 200, answer.text
        keys = KeySet.import_key_set(
            requests.get(f"{self.ferry_url}/.well-known/jwks.json", timeout=10).json())
        token = jwt.decode(answer.json()["id_token"], keys)
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.ferry_url},
            aud={"essential": True, "value": "test-app"},
            nonce={"essential": True, "value": self.nonce},
        ).validate(token.claims)
        return dict(token.claims)


def test_sign_up_through_prompt_create_with_a_passkey_ends_at_the_app_with_a_code(
    page: Page, site: Site, screenshot
):
    authenticator = VirtualAuthenticator(page)
    app = RoutedApp(page, site.ferry.url)
    users_before = count_users(site.ferry_app)

    page.goto(app.authorize_url(prompt="create"))
    expect(page).to_have_url(re.compile(rf"^{re.escape(site.ferry.url)}/authorize\?"))  # its answer
    expect(heading(page, "Create an account")).to_be_visible()
    screenshot("sign-up-address")
    page.get_by_label("E-mail address").fill(NEWCOMER)
    page.get_by_role("button", name="Send me a code").click()
    expect(heading(page, "Enter your code")).to_be_visible()
    assert count_users(site.ferry_app) == users_before  # nothing exists before the code
    enter_code_from_mailbox(page, site.mail, NEWCOMER)

    expect(heading(page, "Create your account")).to_be_visible()
    expect(page.get_by_text(f"Your e-mail address {NEWCOMER} is confirmed.")).to_be_visible()
    expect(page.get_by_label("First name")).to_be_focused()
    page.get_by_label("First name").fill("Nia")
    page.get_by_label("Last name").fill("Newcomer")
    length_rule = page.get_by_role("listitem").filter(has_text="At least 8 characters.")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    expect(length_rule).to_have_class(re.compile(r"\bferry-rule--met\b"))
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    screenshot("sign-up-profile")
    page.get_by_role("button", name="Create account").click()

    # The account exists now; a passkey is offered before going back to the app.
    expect(heading(page, OFFER)).to_be_visible()
    assert count_users(site.ferry_app) == users_before + 1
    screenshot("sign-up-passkey-offer")
    page.get_by_role("button", name="Create a passkey").click()
    expect(page.get_by_text("back at the app")).to_be_visible()

    claims = app.id_token_claims(app.code_from(page.url))
    assert claims["email"] == NEWCOMER and claims["email_verified"] is True
    assert claims["given_name"] == "Nia" and claims["family_name"] == "Newcomer"
    [held] = authenticator.credentials()
    with site.ferry_app.app_context(), db.connection_context():
        [stored] = PasskeyCredential.select().where(PasskeyCredential.user == claims["sub"])
    assert stored.credential_id == held["credentialId"].rstrip("=").replace("+", "-").replace("/", "_")
    assert password_source(site.ferry_app, NEWCOMER) == "local"

    # The password chosen works for a fresh sign-in to another app (the passkey in the
    # autofill would sign in by itself: this browser has no autofill).
    page.context.clear_cookies()
    page.add_init_script(NO_AUTOFILL)
    open_ferry_sign_in(page, site)
    submit_credentials(page, NEWCOMER, NEW_PASSWORD)
    assert expect_signed_in_to_demo_app(page, site, NEWCOMER) == claims["sub"]


def test_sign_up_with_an_address_the_directory_has_sends_to_sign_in_and_creates_nothing(
    page: Page, site: Site, screenshot
):
    app = RoutedApp(page, site.ferry.url)
    users_before = count_users(site.ferry_app)
    page.goto(app.authorize_url(prompt="create"))
    page.get_by_label("E-mail address").fill(ALICE)
    page.get_by_role("button", name="Send me a code").click()
    enter_code_from_mailbox(page, site.mail, ALICE)
    expect(heading(page, "You already have an account")).to_be_visible()
    screenshot("sign-up-exists")
    page.get_by_role("button", name="Sign in").click()
    expect(heading(page, "Sign in")).to_be_visible()
    expect(page.get_by_label("E-mail address")).to_have_value(ALICE)
    assert count_users(site.ferry_app) == users_before


# -- the account page ----------------------------------------------------------------------------


def test_change_password_from_the_account_page_after_the_current_one(
    browser: Browser, page: Page, site: Site, screenshot
):
    # Dora is signed in on another device too.
    other = browser.new_context(viewport={"width": 1024, "height": 720})
    other.set_default_timeout(5000)
    try:
        laptop = other.new_page()
        sign_in_to_account_page(laptop, site, DORA, DORA_OLD)

        sign_in_to_account_page(page, site, DORA, DORA_OLD)
        page.get_by_role("button", name="Change password").click()
        expect(page.get_by_label("Current password")).to_be_focused()
        screenshot("reauthenticate")
        prove_with_current_password(page, "not it at all 9")
        expect(page.get_by_text("That password is not right")).to_be_visible()
        screenshot("reauthenticate-wrong")
        prove_with_current_password(page, DORA_OLD)

        expect(heading(page, "Change your password")).to_be_visible()
        screenshot("change-password")
        choose_new_password(page, NEW_PASSWORD)
        expect(heading(page, "Your account")).to_be_visible()
        expect(page.get_by_text(f"You are signed in as {DORA}.")).to_be_visible()  # still, here

        # The other device was signed out of Ferry.
        laptop.goto(f"{site.ferry.url}/")
        expect(laptop.get_by_text("You are not signed in.")).to_be_visible()
    finally:
        other.close()
    dora = user_row(site, DORA)
    assert dora is not None and live_sessions(site, dora.id) == 1
    assert notices(site.mail, "Your password was changed") == [DORA]

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are not signed in.")).to_be_visible()
    page.context.clear_cookies()  # the demo app's session too
    expect_only_the_new_password_works(page, site, DORA, DORA_OLD, NEW_PASSWORD)


def test_change_email_from_the_account_page_with_a_code_to_the_new_address(
    page: Page, site: Site, screenshot
):
    newer = "dora.new@example.com"
    sign_in_to_account_page(page, site, DORA, DORA_OLD)
    page.get_by_role("button", name="Change e-mail address").click()
    prove_with_current_password(page, DORA_OLD)

    expect(heading(page, "Change your e-mail address")).to_be_visible()
    expect(page.get_by_text(f"Your e-mail address is {DORA}.")).to_be_visible()
    screenshot("change-email")
    page.get_by_label("New e-mail address").fill(newer)
    page.get_by_role("button", name="Send me a code").click()
    expect(page.get_by_text(f"We sent a code to {newer}.")).to_be_visible()
    screenshot("change-email-code")
    assert [m["X-Envelope-To"] for m in site.mail.received] == [newer]  # not the old address
    assert user_row(site, DORA) is not None  # nothing changed yet
    enter_code_from_mailbox(page, site.mail, newer, button="Change address")

    expect(heading(page, "Your account")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text(f"Your e-mail address is now {newer}.")
    expect(page.get_by_text(f"You are signed in as {newer}.")).to_be_visible()
    screenshot("account-after-change")
    assert user_row(site, DORA) is None
    moved = user_row(site, newer)
    assert moved is not None and moved.email_verified
    assert notices(site.mail, "Your e-mail address was changed") == [DORA]

    # Signed out, the new address and the same password sign in; the old address does not.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are not signed in.")).to_be_visible()
    page.context.clear_cookies()  # the demo app's session too
    open_ferry_sign_in(page, site)
    submit_credentials(page, DORA, DORA_OLD)
    expect(page.get_by_role("alert")).to_have_text(WRONG_CREDENTIALS)
    page.get_by_label("E-mail address").fill(newer)
    submit_credentials(page, None, DORA_OLD)
    assert expect_signed_in_to_demo_app(page, site, newer) == moved.id


# -- a legacy password that fails the policy -----------------------------------------------------


WEAK = "password1"  # among the most common passwords


def test_a_weak_legacy_password_must_be_changed_before_going_on(
    page: Page, serve, tmp_path, screenshot
):
    export = write_csv(tmp_path / "users.csv", people(
        alice=bcrypt.hashpw(WEAK.encode(), bcrypt.gensalt(4)).decode()))
    site = serve({"legacy": hashes_table(export)},
                 {"sign-in": {"steps": {"policy": {"mode": "change"}}}})

    open_ferry_sign_in(page, site)
    submit_credentials(page, ALICE, WEAK, decline_offer=False)
    expect(heading(page, "Choose a new password")).to_be_visible()
    expect(page.get_by_text("Your password does not meet our new rules")).to_be_visible()
    expect(page.get_by_role("button", name="Not now")).to_have_count(0)  # no way around it
    screenshot("policy-change")

    # The same weak password again is refused.
    choose_new_password(page, WEAK)
    expect(heading(page, "Choose a new password")).to_be_visible()
    expect(page.get_by_text("This password is too common")).to_be_visible()
    screenshot("policy-change-refused")
    choose_new_password(page, NEW_PASSWORD)

    # Then the usual offer, and on to the app.
    expect(heading(page, OFFER)).to_be_visible()
    page.get_by_role("button", name="Not now").click()
    sub = expect_signed_in_to_demo_app(page, site, ALICE)
    assert password_source(site.ferry_app, ALICE) == "local"
    sign_out_of_demo_app(page)
    assert expect_only_the_new_password_works(page, site, ALICE, WEAK, NEW_PASSWORD) == sub
