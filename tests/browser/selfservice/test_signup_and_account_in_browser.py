"""Account self-service in Chromium: sign-up (``prompt=create``, ending at the app with a code,
or refused for an address the directory has) and the account page (change password and e-mail
address after a fresh proof). The servers and steps are in ``conftest.py``.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from models import PasskeyCredential, db
from tests.accounts import count_users
from tests.browser.selfservice.conftest import (
    ALICE,
    DORA,
    DORA_OLD,
    NEW_PASSWORD,
    NEWCOMER,
    RoutedApp,
    Site,
    choose_new_password,
    enter_code_from_mailbox,
    expect_only_the_new_password_works,
    heading,
    live_sessions,
    notices,
    prove_with_current_password,
    sign_in_to_account_page,
    user_row,
)
from tests.browser.test_migration_in_browser import (
    OFFER,
    WRONG_CREDENTIALS,
    expect_signed_in_to_demo_app,
    open_ferry_sign_in,
    submit_credentials,
)
from tests.browser.test_passkeys_in_browser import NO_AUTOFILL, VirtualAuthenticator
from tests.journeys.selfservice import password_source

pytestmark = pytest.mark.browser


# -- sign-up -------------------------------------------------------------------------------------


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
