"""The shipped ``forgot-password`` journey: a code to the address the account has (local, or the
legacy directory's for a user not migrated yet: a real slapd), then a new password; the old one
stops working, every other session ends, and the page never tells who has an account."""

from __future__ import annotations

import pytest

from models import LegacyLink, User, db
from tests.accounts import count_users, create_local_user
from tests.authenticators.mail import MailServer
from tests.conftest import SignIn, deployment
from tests.connectors.ldap.conftest import ldap_table, slapd  # noqa: F401 (the session's slapd)
from tests.connectors.scripted_idp import closed_port_url
from tests.journeys.selfservice import (
    NEW_PASSWORD,
    live_sessions,
    password_source,
    start,
    text,
    user_row,
)

CAROL = "carol@example.com"  # a local (migrated) user
OLD = "an old passphrase 1"
ALICE = "alice@example.com"  # in slapd only, not migrated


@pytest.fixture
def mail():
    with MailServer() as server:
        yield server


def ldap_deployment(slapd_server, **settings) -> dict:
    tables = deployment({"corp-ldap": ldap_table(slapd_server, **settings)})
    tables["journeys"] = {"forgot-password": {"steps": {"send": {"lookup_connector": "corp-ldap"}}}}
    return tables


@pytest.fixture
def reset_app(make_app, mail, slapd):  # noqa: F811
    app = make_app(DEPLOYMENT=ldap_deployment(slapd), **mail.config())
    create_local_user(app, CAROL, OLD)
    return app


def ask_for_reset(app, address: str) -> SignIn:
    browser = start(app, "forgot-password")
    assert "Forgot your password?" in text(browser.page)
    browser.post(identifier=address)
    return browser


def set_new_password(browser: SignIn, mail: MailServer, address: str, password=NEW_PASSWORD):
    page = browser.post(code=mail.last_code(address))
    assert page.status_code == 200 and "Set a new password" in text(page), text(page)[:800]
    return browser.post(password=password, confirm=password)


def test_a_migrated_user_resets_the_password_and_only_the_new_one_works(reset_app, mail):
    elsewhere = SignIn(reset_app.test_client())
    elsewhere.tokens(CAROL, OLD)  # signed in on another device
    carol = user_row(reset_app, CAROL)
    assert live_sessions(reset_app, carol.id) == 1

    browser = ask_for_reset(reset_app, CAROL)
    assert "If an account exists for carol@example.com, we sent a code to it." in text(browser.page)
    done = set_new_password(browser, mail, CAROL)
    assert browser.exchange(browser.code_from(done)).status_code == 200  # on to the app

    assert live_sessions(reset_app, carol.id) == 1  # this browser's; the other one ended
    assert elsewhere.client.get("/").get_data(as_text=True).count("You are not signed in") == 1
    assert SignIn(reset_app.test_client()).tokens(CAROL, NEW_PASSWORD)["id_token"]
    refused = SignIn(reset_app.test_client()).sign_in(CAROL, OLD)
    assert refused.status_code == 200 and "don't match" in text(refused)
    assert password_source(reset_app, CAROL) == "local"
    notices = [m for m in mail.received if m["Subject"] == "Your password was changed"]
    assert [m["X-Envelope-To"] for m in notices] == [CAROL]


def test_a_user_not_migrated_gets_the_code_at_the_directorys_address(reset_app, mail):
    before = count_users(reset_app)
    browser = ask_for_reset(reset_app, ALICE)
    browser_done = set_new_password(browser, mail, ALICE)
    claims = browser.id_token_claims(
        browser.exchange(browser.code_from(browser_done)).get_json()["id_token"])
    assert claims["email"] == ALICE and claims["email_verified"] is True
    assert count_users(reset_app) == before + 1
    alice = user_row(reset_app, ALICE)
    with reset_app.app_context(), db.connection_context():
        assert LegacyLink.select().where(LegacyLink.user == alice.id).count() == 1
    assert password_source(reset_app, ALICE) == "local"
    assert SignIn(reset_app.test_client()).tokens(ALICE, NEW_PASSWORD)["id_token"]


def test_the_page_reads_the_same_for_an_unknown_address(reset_app, mail):
    known = text(ask_for_reset(reset_app, CAROL).page).replace(CAROL, "ADDRESS")
    unknown = text(ask_for_reset(reset_app, "nobody@example.com").page).replace(
        "nobody@example.com", "ADDRESS")
    strip = lambda page: __import__("re").sub(r'value="[^"]*"', "", page)  # noqa: E731 (tokens)
    assert strip(known) == strip(unknown)
    assert [m["X-Envelope-To"] for m in mail.received] == [CAROL]


@pytest.mark.parametrize(("password", "confirm", "told"), [
    (OLD, OLD, "Choose a password you have not used here before."),
    ("short1", "short1", "Use at least 8 characters."),
    ("password123", "password123", "This password is too common"),
    ("carol-is-me-2024", "carol-is-me-2024", "must not contain your e-mail address"),
    (NEW_PASSWORD, NEW_PASSWORD + "x", "The two passwords are not the same."),
])
def test_a_new_password_that_breaks_a_rule_is_told_and_changes_nothing(reset_app, mail, password,
                                                                      confirm, told):
    browser = ask_for_reset(reset_app, CAROL)
    browser.post(code=mail.last_code(CAROL))
    page = browser.post(password=password, confirm=confirm)
    assert page.status_code == 200 and told in text(page)
    assert SignIn(reset_app.test_client()).tokens(CAROL, OLD)["id_token"]  # still the old one


def test_a_code_from_another_browsers_reset_does_not_work(reset_app, mail):
    first = ask_for_reset(reset_app, CAROL)
    code = mail.last_code(CAROL)
    second = ask_for_reset(reset_app, CAROL)
    page = second.post(code=code)
    assert page.status_code == 200 and "That code is not right" in text(page)
    assert "Set a new password" in text(first.post(code=code))


def test_a_resend_kills_the_first_code(reset_app, mail):
    browser = ask_for_reset(reset_app, CAROL)
    first = mail.last_code(CAROL)
    browser.post(resend="1")
    second = mail.last_code(CAROL)
    if first == second:  # one chance in a million
        pytest.skip("the two codes happen to be equal")
    page = browser.post(code=first)
    assert "That code is not right" in text(page)
    assert "Set a new password" in text(browser.post(code=second))


def test_a_post_without_the_csrf_token_changes_nothing(reset_app, mail):
    browser = ask_for_reset(reset_app, CAROL)
    browser.post(code=mail.last_code(CAROL))
    forged = browser.client.post("/login", data={"step": "new-password", "password": NEW_PASSWORD,
                                                 "confirm": NEW_PASSWORD})
    assert forged.status_code == 400
    assert SignIn(reset_app.test_client()).tokens(CAROL, OLD)["id_token"]


def test_a_directory_that_is_down_says_try_later_and_creates_nothing(make_app, mail, slapd):  # noqa: F811
    closed = closed_port_url("").replace("http://", "ldap://")
    app = make_app(DEPLOYMENT=ldap_deployment(slapd, url=closed), **mail.config())
    before = count_users(app)
    browser = ask_for_reset(app, ALICE)
    assert "We can't send a code right now" in text(browser.page)
    assert count_users(app) == before and not mail.received
    with app.app_context(), db.connection_context():
        assert not User.select().where(User.email == ALICE).exists()
