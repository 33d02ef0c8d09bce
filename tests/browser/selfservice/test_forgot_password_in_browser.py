"""Account self-service in Chromium: forgot password, and a legacy password that fails the
policy (sign-up and the account page: ``test_signup_and_account_in_browser.py``).

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

import re

import bcrypt
import pytest
from playwright.sync_api import Page, expect

from models import LegacyLink, db
from tests.accounts import count_users
from tests.browser.selfservice.conftest import (
    ALICE,
    DORA,
    DORA_OLD,
    NEW_PASSWORD,
    Site,
    ask_for_a_reset_code,
    choose_new_password,
    enter_code_from_mailbox,
    expect_only_the_new_password_works,
    heading,
    notices,
    sign_out_of_demo_app,
    user_row,
)
from tests.browser.test_migration_in_browser import (
    OFFER,
    claim_cell,
    expect_signed_in_to_demo_app,
    open_ferry_sign_in,
    submit_credentials,
)
from tests.connectors.hashes.legacy import hashes_table, people, write_csv
from tests.journeys.selfservice import password_source

pytestmark = pytest.mark.browser


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
