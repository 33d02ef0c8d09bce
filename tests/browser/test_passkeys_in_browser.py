"""Passkeys end to end in Chromium, with a CDP virtual authenticator (ctap2, internal, resident
keys, user verification).

Alice migrates through the shipped sign-in journey against the real password-grant peer and is
offered a passkey or a PIN right away. With a passkey she signs in again from the sign-in page
(its button, or the e-mail field's autofill) or through the ``passkey-sign-in`` journey (Ferry's
default journey here, opened directly); with a PIN she signs in on this device only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from demo import client_app
from models import PasskeyCredential, PinCredential, User, UserSession, db
from tests.browser.conftest import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, ServedApp, Servers
from tests.browser.test_migration_in_browser import (
    ALICE,
    OFFER,
    expect_signed_in_to_demo_app,
    open_ferry_sign_in,
    submit_credentials,
)
from tests.conftest import deployment, ropc_connector

pytestmark = pytest.mark.browser

PIN = "482915"


@pytest.fixture
def servers(make_app, legacy_idp, monkeypatch) -> Iterator[Servers]:
    """Like the browser conftest's, with ``passkey-sign-in`` as Ferry's own default journey."""
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    ferry, demo = ServedApp("ferry"), ServedApp("demo-app")
    try:
        tables = deployment({"legacy": ropc_connector(legacy_idp)})
        tables["apps"][DEMO_CLIENT_ID] = {
            "name": "Demo app", "client_secret": DEMO_CLIENT_SECRET, "journey": "sign-in",
            "redirect_uris": [f"{demo.url}/callback"],
            "post_logout_redirect_uris": [f"{demo.url}/"],
        }
        ferry.serve(make_app(ISSUER=ferry.url, DEPLOYMENT=tables, DEFAULT_JOURNEY="passkey-sign-in"))
        demo.serve(client_app.create_app({
            "FERRY_URL": ferry.url, "DEMO_APP_URL": demo.url, "SECRET_KEY": "demo-test-key",
            "FERRY_CLIENT_ID": DEMO_CLIENT_ID, "FERRY_CLIENT_SECRET": DEMO_CLIENT_SECRET,
        }))
        yield Servers(ferry=ferry, demo=demo, legacy=legacy_idp)
    finally:
        demo.stop()
        ferry.stop()


class VirtualAuthenticator:
    """A platform authenticator (CDP) that holds passkeys and verifies the user without a prompt."""

    def __init__(self, page: Page) -> None:
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("WebAuthn.enable")
        self.id = self.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
            "hasUserVerification": True, "isUserVerified": True, "automaticPresenceSimulation": True,
        }})["authenticatorId"]

    def credentials(self) -> list[dict]:
        return self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})["credentials"]

    def fail_user_verification(self) -> None:
        self.cdp.send("WebAuthn.setUserVerified", {"authenticatorId": self.id, "isUserVerified": False})


@pytest.fixture
def authenticator(page: Page) -> VirtualAuthenticator:
    return VirtualAuthenticator(page)


def test_migrate_create_a_passkey_then_sign_in_with_it_and_no_password(
    page: Page, servers, authenticator, screenshot
):
    open_ferry_sign_in(page, servers)
    submit_credentials(page, ALICE, servers.legacy.users[ALICE], decline_offer=False)

    # The first migration is followed by the offer.
    expect(page.get_by_role("heading", level=1, name=OFFER)).to_be_visible()
    expect(page.get_by_text("A passkey lets you sign in")).to_be_visible()
    screenshot("passkey-offer")
    page.get_by_role("button", name="Create a passkey").click()
    sub = expect_signed_in_to_demo_app(page, servers, ALICE)

    [held] = authenticator.credentials()
    assert held["isResidentCredential"] is True
    with servers.ferry_app.app_context(), db.connection_context():
        [stored] = PasskeyCredential.select().join(User).where(User.email == ALICE)
        assert stored.user_id == sub
        assert stored.credential_id == held["credentialId"].rstrip("=").replace("+", "-").replace("/", "_")

    # Signing out of the demo app ends Ferry's session too.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are not signed in.")).to_be_visible()

    # Ferry directly: its default journey here is passkey-sign-in. No field to type into.
    page.goto(f"{servers.ferry.url}/login")
    expect(page.get_by_role("heading", level=1, name="Sign in")).to_be_visible()
    expect(page.get_by_label("Password")).to_have_count(0)
    screenshot("passkey-sign-in")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page).to_have_url(f"{servers.ferry.url}/")
    expect(page.get_by_text(f"You are signed in as {ALICE}.")).to_be_visible()

    assert len(authenticator.credentials()) == 1
    with servers.ferry_app.app_context(), db.connection_context():
        sessions = UserSession.select().where(UserSession.user == sub).order_by(UserSession.created_at)
        assert [s.amr for s in sessions] == [["pwd"], ["hwk", "user", "mfa"]]
        assert PasskeyCredential.get(PasskeyCredential.user == sub).last_used_at is not None


def test_without_javascript_the_offer_can_still_be_skipped(browser: Browser, servers):
    context = browser.new_context(java_script_enabled=False)
    context.set_default_timeout(5000)
    try:
        page = context.new_page()
        open_ferry_sign_in(page, servers)
        submit_credentials(page, ALICE, servers.legacy.users[ALICE], decline_offer=False)
        expect(page.get_by_role("heading", level=1, name=OFFER)).to_be_visible()
        expect(page.get_by_role("button", name="Create a passkey")).to_be_disabled()
        page.get_by_role("button", name="Not now").click()
        expect_signed_in_to_demo_app(page, servers, ALICE)
    finally:
        context.close()
    with servers.ferry_app.app_context(), db.connection_context():
        assert PasskeyCredential.select().count() == 0


def test_a_refused_prompt_changes_nothing_and_the_offer_can_be_skipped(
    page: Page, servers, authenticator
):
    # The device does not verify the user: Chromium refuses, as when the user cancels.
    authenticator.fail_user_verification()
    open_ferry_sign_in(page, servers)
    submit_credentials(page, ALICE, servers.legacy.users[ALICE], decline_offer=False)
    page.get_by_role("button", name="Create a passkey").click()
    expect(page.get_by_role("status")).to_have_text(re.compile("Nothing was changed"), timeout=15000)
    expect(page.get_by_role("button", name="Create a passkey")).to_be_enabled()
    page.get_by_role("button", name="Not now").click()
    expect_signed_in_to_demo_app(page, servers, ALICE)
    assert authenticator.credentials() == []


def migrate_with_a_passkey(page: Page, servers) -> str:
    """Alice's first sign-in, with the offered passkey created; then she signs out."""
    open_ferry_sign_in(page, servers)
    submit_credentials(page, ALICE, servers.legacy.users[ALICE], decline_offer=False)
    page.get_by_role("button", name="Create a passkey").click()
    sub = expect_signed_in_to_demo_app(page, servers, ALICE)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are not signed in.")).to_be_visible()
    return sub


def amr_of_sessions(servers, sub: str) -> list[list[str]]:
    with servers.ferry_app.app_context(), db.connection_context():
        sessions = UserSession.select().where(UserSession.user == sub).order_by(UserSession.created_at)
        return [s.amr for s in sessions]


#: A browser without conditional mediation (passkey autofill): only the button asks for one.
NO_AUTOFILL = "PublicKeyCredential.isConditionalMediationAvailable = async () => false;"


def test_the_sign_in_pages_passkey_button(page: Page, servers, authenticator, screenshot):
    sub = migrate_with_a_passkey(page, servers)
    page.add_init_script(NO_AUTOFILL)
    open_ferry_sign_in(page, servers)
    screenshot("sign-in-page-with-every-way")
    page.get_by_role("button", name="Sign in with a passkey").click()
    assert expect_signed_in_to_demo_app(page, servers, ALICE) == sub
    assert amr_of_sessions(servers, sub)[-1] == ["hwk", "user", "mfa"]


def test_a_passkey_offered_in_the_e_mail_fields_autofill(page: Page, servers, authenticator):
    """Conditional mediation: the page asks for passkeys as soon as it loads, without a prompt.
    Chromium's virtual authenticator answers such a request by itself (headless, there is no
    autofill menu to pick from), so the page signs in on its own; a real user picks first."""
    sub = migrate_with_a_passkey(page, servers)
    assert page.evaluate("PublicKeyCredential.isConditionalMediationAvailable()") is True
    page.get_by_role("link", name="Sign in").click()
    assert expect_signed_in_to_demo_app(page, servers, ALICE) == sub
    assert amr_of_sessions(servers, sub)[-1] == ["hwk", "user", "mfa"]


def test_without_a_passkey_the_autofill_request_stays_quiet(page: Page, servers, authenticator):
    """No passkey on the device: the pending autofill request must not disturb the password form."""
    open_ferry_sign_in(page, servers)
    expect(page.get_by_role("status")).to_have_text("")
    submit_credentials(page, ALICE, servers.legacy.users[ALICE])
    expect_signed_in_to_demo_app(page, servers, ALICE)


def set_a_pin(page: Page, servers, screenshot=None) -> str:
    open_ferry_sign_in(page, servers)
    submit_credentials(page, ALICE, servers.legacy.users[ALICE], decline_offer=False)
    page.get_by_role("button", name="Use a PIN on this device instead").click()
    expect(page.get_by_role("heading", level=1, name="Set a PIN for this device")).to_be_visible()
    page.get_by_label("New PIN").fill("123456")
    page.get_by_label("Type the PIN again").fill("123456")
    page.get_by_role("button", name="Set PIN").click()
    # The browser refuses the run itself (the field's pattern): no device prompt, no key made.
    assert page.get_by_label("New PIN").evaluate("field => field.validity.patternMismatch") is True
    assert page.get_by_role("heading", level=1, name="Set a PIN for this device").is_visible()
    if screenshot:
        screenshot("pin-refused-run")
    page.get_by_label("New PIN").fill(PIN)
    page.get_by_label("Type the PIN again").fill(PIN)
    page.get_by_role("button", name="Set PIN").click()
    sub = expect_signed_in_to_demo_app(page, servers, ALICE)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are not signed in.")).to_be_visible()
    return sub


def open_pin_page(page: Page, servers) -> None:
    open_ferry_sign_in(page, servers)
    page.get_by_label("E-mail address").fill(ALICE)
    page.get_by_role("button", name="Use my PIN on this device").click()
    expect(page.get_by_role("heading", level=1, name="Enter your PIN")).to_be_visible()


def test_set_a_pin_then_sign_in_with_this_device_and_the_pin(page: Page, servers, authenticator,
                                                             screenshot):
    sub = set_a_pin(page, servers, screenshot)
    [held] = authenticator.credentials()  # one key: the refused 123456 never reached the device
    assert held["isResidentCredential"] is False  # device-bound, not discoverable
    with servers.ferry_app.app_context(), db.connection_context():
        stored = PinCredential.get(PinCredential.user == sub)
        assert stored.pin_hash.startswith("$argon2id$")
    assert stored.credential_id == held["credentialId"].rstrip("=").replace("+", "-").replace("/", "_")

    open_pin_page(page, servers)
    screenshot("pin-sign-in")
    page.get_by_label("PIN").fill("000001")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_text("That PIN is not right. 9 tries left")).to_be_visible()
    page.get_by_label("PIN").fill(PIN)
    page.get_by_label("PIN").press("Enter")  # Enter runs the device ceremony too
    assert expect_signed_in_to_demo_app(page, servers, ALICE) == sub
    assert amr_of_sessions(servers, sub)[-1] == ["hwk", "pin", "mfa"]
    with servers.ferry_app.app_context(), db.connection_context():
        assert PinCredential.get(PinCredential.user == sub).failed_attempts == 0


def test_the_pin_does_not_work_on_another_device(browser: Browser, page: Page, servers,
                                                  authenticator, screenshot):
    set_a_pin(page, servers)
    other = browser.new_context(viewport={"width": 1024, "height": 720})
    other.set_default_timeout(5000)
    try:
        laptop = other.new_page()
        VirtualAuthenticator(laptop)  # a device of its own, without Alice's PIN key
        open_pin_page(laptop, servers)
        laptop.get_by_label("PIN").fill(PIN)
        laptop.get_by_role("button", name="Sign in", exact=True).click()
        expect(laptop.get_by_role("status")).to_have_text(
            re.compile("This device has no PIN for that account"), timeout=20000)
        laptop.get_by_role("button", name="Sign in another way").click()
        expect(laptop.get_by_label("Password")).to_be_visible()
    finally:
        other.close()
    with servers.ferry_app.app_context(), db.connection_context():
        assert PinCredential.get().failed_attempts == 0
        assert UserSession.select().count() == 1  # the sign-in that set the PIN, nothing else


def test_add_a_passkey_from_the_account_page(page: Page, servers, authenticator, screenshot):
    open_ferry_sign_in(page, servers)
    submit_credentials(page, ALICE, servers.legacy.users[ALICE])  # "Not now" to the offer
    expect_signed_in_to_demo_app(page, servers, ALICE)
    page.goto(f"{servers.ferry.url}/")
    expect(page.get_by_text("You have no passkeys yet.")).to_be_visible()
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_role("heading", level=1, name="Add a passkey")).to_be_visible()
    page.get_by_role("button", name="Create a passkey").click()
    expect(page).to_have_url(f"{servers.ferry.url}/")
    expect(page.get_by_label("Passkey name")).to_have_value("Passkey")
    screenshot("account-page-with-a-passkey")
    assert len(authenticator.credentials()) == 1
