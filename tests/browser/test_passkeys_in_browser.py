"""Passkeys end to end in Chromium, with a CDP virtual authenticator (ctap2, internal, resident
keys, user verification).

Alice migrates through the sign-in journey against the real password-grant peer; the deployment
opts in to the passkey offer after a first migration (``create.on.created = "passkey"``). She
creates a passkey on the offered page, signs out, and signs in again through the
``passkey-sign-in`` journey (Ferry's default journey here, opened directly) without typing a
password.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from demo import client_app
from models import PasskeyCredential, User, UserSession, db
from tests.browser.conftest import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, ServedApp, Servers
from tests.browser.test_migration_in_browser import (
    ALICE,
    expect_signed_in_to_demo_app,
    open_ferry_sign_in,
    submit_credentials,
)
from tests.conftest import deployment, ropc_connector

pytestmark = pytest.mark.browser

OFFER = "Sign in faster next time"

#: The opt-in: after a first migration, offer a passkey before going back to the app.
PASSKEY_OFFER = {
    "sign-in": {
        "steps": {
            "create": {"on": {"created": "passkey"}},
            "passkey": {"type": "register_passkey", "on": {"registered": "done", "skipped": "done"}},
        }
    }
}


@pytest.fixture
def servers(make_app, legacy_idp, monkeypatch) -> Iterator[Servers]:
    """Like the browser conftest's, with the passkey offer and ``passkey-sign-in`` as default."""
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    ferry, demo = ServedApp("ferry"), ServedApp("demo-app")
    try:
        tables = deployment({"legacy": ropc_connector(legacy_idp)}, journeys=PASSKEY_OFFER)
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
    submit_credentials(page, ALICE, servers.legacy.users[ALICE])

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
        submit_credentials(page, ALICE, servers.legacy.users[ALICE])
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
    submit_credentials(page, ALICE, servers.legacy.users[ALICE])
    page.get_by_role("button", name="Create a passkey").click()
    expect(page.get_by_role("status")).to_have_text(re.compile("Nothing was changed"), timeout=15000)
    expect(page.get_by_role("button", name="Create a passkey")).to_be_enabled()
    page.get_by_role("button", name="Not now").click()
    expect_signed_in_to_demo_app(page, servers, ALICE)
    assert authenticator.credentials() == []
