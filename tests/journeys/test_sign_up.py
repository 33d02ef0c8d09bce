"""The shipped ``sign-up`` journey, through ``prompt=create`` and the "Create an account" link:
the address is proved by a code before anything exists; an address with an account (here or at
the legacy directory, a real slapd) is sent to sign in, and the first page reads the same."""

from __future__ import annotations

import re

import pytest

from models import PasswordCredential, User, db
from tests.accounts import count_users, create_local_user
from tests.authenticators.mail import MailServer
from tests.conftest import SignIn, deployment
from tests.connectors.ldap.conftest import ldap_table, slapd  # noqa: F401 (the session's slapd)
from tests.connectors.scripted_idp import closed_port_url
from tests.journeys.selfservice import NEW_PASSWORD, start, text, user_row

NEW = "newcomer@example.com"
CAROL = "carol@example.com"  # local
ALICE = "alice@example.com"  # in slapd only


@pytest.fixture
def mail():
    with MailServer() as server:
        yield server


def signup_deployment(slapd_server, **settings) -> dict:
    tables = deployment({"corp-ldap": ldap_table(slapd_server, **settings)})
    tables["journeys"] = {"sign-up": {"steps": {"check": {"lookup_connector": "corp-ldap"}}}}
    return tables


@pytest.fixture
def signup_app(make_app, mail, slapd):  # noqa: F811
    app = make_app(DEPLOYMENT=signup_deployment(slapd), **mail.config())
    create_local_user(app, CAROL, "an old passphrase 1")
    return app


def by_prompt_create(app) -> SignIn:
    browser = SignIn(app.test_client())
    browser.start(prompt="create")
    assert "Create an account" in text(browser.page)
    return browser


def test_prompt_create_makes_an_account_with_the_proved_address(signup_app, mail):
    before = count_users(signup_app)
    browser = by_prompt_create(signup_app)
    browser.post(identifier=NEW)
    assert count_users(signup_app) == before  # nothing exists before the code
    page = browser.post(code=mail.last_code(NEW))
    assert "Create your account" in text(page)
    assert re.search(r'<label[^>]*>First name</label>', text(page))
    assert 'autocomplete="new-password"' in text(page) and "At least 8 characters." in text(page)
    done = browser.post(given_name="Nia", family_name="Newcomer", password=NEW_PASSWORD,
                        confirm=NEW_PASSWORD)
    claims = browser.id_token_claims(browser.exchange(browser.code_from(done)).get_json()["id_token"])
    assert claims["email"] == NEW and claims["email_verified"] is True
    assert claims["given_name"] == "Nia" and claims["name"] == "Nia Newcomer"
    assert count_users(signup_app) == before + 1
    assert SignIn(signup_app.test_client()).tokens(NEW, NEW_PASSWORD)["id_token"]


def test_the_link_on_the_sign_in_page_leads_to_sign_up(signup_app, mail):
    browser = SignIn(signup_app.test_client())
    assert 'href="/journeys/sign-up"' in text(browser.start())
    browser = start(signup_app, "sign-up", browser)
    assert "We will send you a code to prove it is yours" in text(browser.page)


def test_the_passkey_is_offered_after_the_account_is_made(signup_app, mail):
    browser = by_prompt_create(signup_app)
    browser.post(identifier=NEW)
    browser.post(code=mail.last_code(NEW))
    offer = browser.post(decline_offers=False, given_name="Nia", family_name="", password=NEW_PASSWORD,
                         confirm=NEW_PASSWORD)
    assert offer.status_code == 200 and 'data-webauthn="create"' in text(offer)


@pytest.mark.parametrize("address", [CAROL, ALICE])
def test_an_address_with_an_account_is_sent_to_sign_in_and_nothing_is_created(signup_app, mail,
                                                                             address):
    before = count_users(signup_app)
    browser = by_prompt_create(signup_app)
    first_page = browser.post(identifier=address)
    page = browser.post(code=mail.last_code(address))
    assert "You already have an account" in text(page)
    assert "Forgot your password?" in text(page)
    assert count_users(signup_app) == before
    signin = browser.post()  # "Sign in"
    assert "E-mail address" in text(signin) and address in text(signin)
    # The page after the address is the same for a free address and a taken one.
    other = by_prompt_create(signup_app)
    free_page = other.post(identifier=NEW)
    scrub = lambda page, who: re.sub(r'value="[^"]*"', "", text(page).replace(who, "X"))  # noqa: E731
    assert scrub(first_page, address) == scrub(free_page, NEW)


def test_a_directory_that_is_down_creates_nothing(make_app, mail, slapd):  # noqa: F811
    app = make_app(DEPLOYMENT=signup_deployment(
        slapd, url=closed_port_url("").replace("http://", "ldap://")), **mail.config())
    before = count_users(app)
    browser = by_prompt_create(app)
    browser.post(identifier=NEW)
    page = browser.post(code=mail.last_code(NEW))
    assert "We can't create accounts right now" in text(page)
    assert count_users(app) == before


def test_a_weak_password_or_a_missing_confirmation_creates_nothing(signup_app, mail):
    before = count_users(signup_app)
    browser = by_prompt_create(signup_app)
    browser.post(identifier=NEW)
    browser.post(code=mail.last_code(NEW))
    page = browser.post(given_name="Nia", password="password1", confirm="password1")
    assert "This password is too common" in text(page)
    page = browser.post(given_name="Nia", password=NEW_PASSWORD, confirm="")
    assert "Enter the new password once more." in text(page)
    assert count_users(signup_app) == before


def test_an_address_taken_meanwhile_creates_nothing(signup_app, mail):
    browser = by_prompt_create(signup_app)
    browser.post(identifier=NEW)
    browser.post(code=mail.last_code(NEW))
    create_local_user(signup_app, NEW, "someone was faster 1")  # between the check and the form
    page = browser.post(given_name="Nia", password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    assert "You already have an account" in text(page)
    with signup_app.app_context(), db.connection_context():
        assert User.select().where(User.email == NEW).count() == 1
        user = User.get(User.email == NEW)
        assert PasswordCredential.select().where(PasswordCredential.user == user).count() == 1
    assert user_row(signup_app, NEW).given_name == "Test"  # the other account, untouched


def test_an_app_without_signup_answers_prompt_create_with_a_way_to_sign_in(make_app, mail, slapd):  # noqa: F811
    tables = signup_deployment(slapd)
    tables["apps"]["test-app"]["signup"] = False
    app = make_app(DEPLOYMENT=tables, **mail.config())
    browser = SignIn(app.test_client())
    refused = browser.authorize(prompt="create")
    assert refused.status_code == 400
    assert "new accounts are not open here" in text(refused)
    page = text(browser.start())
    assert 'name="password"' in page and 'href="/journeys/sign-up"' not in page
    assert browser.client.get("/journeys/sign-up").status_code == 404
