"""Just-in-time password migration, end to end, in a real browser.

Headless Chromium signs in to the demo app (an ordinary OpenID Connect client) through Ferry,
whose only legacy IDP is the real password-grant server: the first sign-in migrates the user,
the next ones work with the legacy IDP switched off. Fields are found by their visible labels.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from models import LegacyLink, PasswordCredential, User, db

pytestmark = pytest.mark.browser

ALICE = "alice@example.com"
BOB = "bob@example.com"
WRONG_CREDENTIALS = "That e-mail address and password don't match. Check them and try again."
UNAVAILABLE = "We can't check your password right now"


# -- what a user does ----------------------------------------------------------------------------


def open_ferry_sign_in(page: Page, servers) -> None:
    """From the demo app's home page to Ferry's sign-in form."""
    page.goto(f"{servers.demo.url}/")
    expect(page.get_by_text("You are not signed in.")).to_be_visible()
    page.get_by_role("link", name="Sign in").click()
    # /authorize answers Ferry's sign-in page itself (no redirect to /login).
    expect(page).to_have_url(re.compile(rf"^{re.escape(servers.ferry.url)}/authorize\?"))
    expect(page.get_by_role("heading", level=1, name="Sign in")).to_be_visible()


#: The heading of the passkey (or PIN) offer that follows a password sign-in.
OFFER = "Sign in faster next time"


def submit_credentials(page: Page, email: str | None, password: str, *,
                       decline_offer: bool = True) -> None:
    """Fill the sign-in form and press "Sign in"; answer "Not now" to an offer that follows,
    as most users do, unless ``decline_offer`` is false."""
    if email is not None:
        page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in", exact=True).click()
    if decline_offer and page.get_by_role("heading", level=1, name=OFFER).count():
        page.get_by_role("button", name="Not now").click()


def expect_signed_in_to_demo_app(page: Page, servers, email: str) -> str:
    """The demo app shows the ID token's claims; returns the ``sub`` claim."""
    expect(page).to_have_url(f"{servers.demo.url}/")
    expect(page.get_by_text("You are signed in.")).to_be_visible()
    expect(claim_cell(page, "email")).to_have_text(email)
    return claim_cell(page, "sub").inner_text()


def claim_cell(page: Page, claim: str):
    row = page.get_by_role("row").filter(
        has=page.get_by_role("rowheader", name=claim, exact=True)
    )
    return row.get_by_role("cell")


# -- what Ferry's database holds -----------------------------------------------------------------


def users_in_ferry(servers) -> list[User]:
    with servers.ferry_app.app_context(), db.connection_context():
        return list(User.select())


def migration_of(servers, email: str) -> tuple[User, list[LegacyLink], PasswordCredential]:
    with servers.ferry_app.app_context(), db.connection_context():
        user = User.get(User.email == email)
        return user, list(user.legacy_links), PasswordCredential.get(PasswordCredential.user == user)


# -- the tests -----------------------------------------------------------------------------------


def test_first_sign_in_migrates_and_the_next_works_without_the_legacy_idp(
    page: Page, servers, screenshot
):
    password = servers.legacy.users[ALICE]
    assert users_in_ferry(servers) == []

    open_ferry_sign_in(page, servers)
    screenshot("ferry-sign-in")
    submit_credentials(page, ALICE, password)
    sub = expect_signed_in_to_demo_app(page, servers, ALICE)

    # The legacy IDP said yes: Ferry now holds alice, linked to her legacy identity, with an
    # argon2id hash of the password she typed.
    user, links, credential = migration_of(servers, ALICE)
    assert user.id == sub
    assert [(link.connector, link.subject) for link in links] == [
        ("legacy", servers.legacy.profiles[ALICE]["sub"])
    ]
    assert credential.hash.startswith("$argon2id$")
    assert password not in credential.hash

    # Signing out of the demo app ends Ferry's session too (RP-initiated logout) and comes back.
    page.get_by_role("button", name="Sign out").click()
    # (authlib adds a state parameter to the post-logout redirect)
    expect(page).to_have_url(re.compile(rf"^{re.escape(servers.demo.url)}/(\?state=[\w-]+)?$"))
    expect(page.get_by_text("You are not signed in.")).to_be_visible()

    servers.legacy.stop()
    assert not servers.legacy.running

    # Ferry asks for the password again (no single sign-on left) and checks it locally.
    open_ferry_sign_in(page, servers)
    screenshot("ferry-sign-in-legacy-down")
    submit_credentials(page, ALICE, password)
    assert expect_signed_in_to_demo_app(page, servers, ALICE) == sub
    assert [u.id for u in users_in_ferry(servers)] == [sub]


def test_wrong_password_is_told_on_the_form_and_nobody_is_created(
    page: Page, servers, screenshot
):
    open_ferry_sign_in(page, servers)
    submit_credentials(page, ALICE, "not-" + servers.legacy.users[ALICE])

    expect(page).to_have_url(f"{servers.ferry.url}/login")
    expect(page.get_by_role("alert")).to_have_text(WRONG_CREDENTIALS)
    screenshot("ferry-wrong-password")
    assert users_in_ferry(servers) == []

    # Still usable: the address is kept, the password is not, and the right one goes through.
    expect(page.get_by_label("E-mail address")).to_have_value(ALICE)
    expect(page.get_by_label("Password")).to_have_value("")
    submit_credentials(page, None, servers.legacy.users[ALICE])
    expect_signed_in_to_demo_app(page, servers, ALICE)
    assert [u.email for u in users_in_ferry(servers)] == [ALICE]


def test_legacy_idp_down_for_a_user_not_yet_migrated_asks_to_try_later(
    page: Page, servers, screenshot
):
    servers.legacy.stop()

    open_ferry_sign_in(page, servers)
    submit_credentials(page, BOB, servers.legacy.users[BOB])

    expect(page.get_by_role("heading", level=1)).to_have_text(UNAVAILABLE)
    expect(page).to_have_title(re.compile(f"^{re.escape(UNAVAILABLE)}"))
    expect(page.get_by_text("nothing was changed")).to_be_visible()
    screenshot("ferry-legacy-unavailable")
    assert users_in_ferry(servers) == []

    # Once the legacy IDP is back, "Try again" leads to the form and the migration goes through.
    servers.legacy.start()
    page.get_by_role("button", name="Try again").click()
    expect(page.get_by_label("E-mail address")).to_have_value(BOB)
    screenshot("ferry-try-again")
    submit_credentials(page, None, servers.legacy.users[BOB])
    expect_signed_in_to_demo_app(page, servers, BOB)
    assert [u.email for u in users_in_ferry(servers)] == [BOB]
