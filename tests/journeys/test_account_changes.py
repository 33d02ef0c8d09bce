"""Changing the password and the e-mail address from the account page: each asks for a fresh
proof (the current password, or a code), the new address is proved by a code before it
replaces the old one, the old address hears of it, and a forged post changes nothing."""

from __future__ import annotations

import pytest

from tests.accounts import create_local_user, sign_in_locally
from tests.authenticators.mail import MailServer
from tests.conftest import SignIn, deployment, form_fields
from tests.journeys.selfservice import NEW_PASSWORD, live_sessions, text, user_row

DORA = "dora@example.com"
OLD = "an old passphrase 1"
NEWER = "dora.new@example.com"


@pytest.fixture
def mail():
    with MailServer() as server:
        yield server


@pytest.fixture
def account_app(make_app, mail):
    return make_app(DEPLOYMENT=deployment(), **mail.config())


class Account:
    """A browser signed in to Ferry itself, on its account page."""

    def __init__(self, app, client):
        self.app, self.client = app, client
        self.page = client.get("/")

    def press(self, action: str):
        """A button of the account page (a form posting to ``action``)."""
        token = form_fields(text(self.page))["csrf_token"]
        response = self.client.post(action, data={"csrf_token": token})
        assert response.status_code == 303, text(response)[:300]
        self.page = self.client.get(response.headers["Location"])
        return self.page

    def post(self, **data):
        fields = form_fields(text(self.page))
        fields.update(data)
        response = self.client.post("/login", data=fields)
        self.page = self.client.get(response.headers["Location"]) if response.status_code in (
            302, 303) else response
        return self.page


@pytest.fixture
def dora(account_app):
    client = account_app.test_client()
    sign_in_locally(account_app, client, DORA, OLD)
    return Account(account_app, client)


def test_the_password_changes_after_the_current_one_is_given(dora, account_app, mail):
    elsewhere = SignIn(account_app.test_client())
    elsewhere.tokens(DORA, OLD)
    page = dora.press("/change/change-password")
    assert "Confirm it's you" in text(page) and 'autocomplete="current-password"' in text(page)
    page = dora.post(password="not it at all 9")
    assert "That password is not right" in text(page)
    page = dora.post(password=OLD)
    assert "Change your password" in text(page)
    page = dora.post(password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    assert "You are signed in as dora@example.com" in text(page)  # still signed in here
    user = user_row(account_app, DORA)
    assert live_sessions(account_app, user.id) == 1  # the other device was signed out
    assert "You are not signed in" in text(elsewhere.client.get("/"))
    assert SignIn(account_app.test_client()).tokens(DORA, NEW_PASSWORD)["id_token"]
    assert "don't match" in text(SignIn(account_app.test_client()).sign_in(DORA, OLD))
    assert [m["Subject"] for m in mail.received] == ["Your password was changed"]


def test_a_code_to_the_address_is_a_fresh_proof_too(dora, account_app, mail):
    dora.press("/change/change-password")
    page = dora.post(code="1")
    assert "We sent a code to dora@example.com" in text(page)
    page = dora.post(code=mail.last_code(DORA))
    assert "Change your password" in text(page)


def test_a_forged_post_without_the_token_changes_nothing(dora, account_app):
    forged = dora.client.post("/change/change-password")
    assert forged.status_code == 400
    dora.press("/change/change-password")
    dora.post(password=OLD)
    forged = dora.client.post("/login", data={"step": "new-password", "password": NEW_PASSWORD,
                                               "confirm": NEW_PASSWORD})
    assert forged.status_code == 400
    assert SignIn(account_app.test_client()).tokens(DORA, OLD)["id_token"]


def test_the_new_password_page_cannot_be_reached_without_the_proof(dora, account_app):
    dora.press("/change/change-password")
    skipped = dora.post(step="new-password", password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    assert "Confirm it's you" in text(skipped)  # the run is still at the proof
    assert SignIn(account_app.test_client()).tokens(DORA, OLD)["id_token"]


def test_signed_out_the_change_buttons_lead_nowhere(account_app):
    client = account_app.test_client()
    token = form_fields(text(client.get("/login")))["csrf_token"]
    assert client.post("/change/change-password", data={"csrf_token": token}).status_code == 401


def test_the_email_changes_once_the_new_address_has_its_code(dora, account_app, mail):
    dora.press("/change/change-email")
    dora.post(password=OLD)
    page = dora.post(email=NEWER)
    assert "We sent a code to dora.new@example.com" in text(page)
    assert user_row(account_app, DORA) is not None  # not changed yet
    page = dora.post(code=mail.last_code(NEWER))
    assert "Your e-mail address is now dora.new@example.com." in text(page)
    user = user_row(account_app, NEWER)
    assert user is not None and user.email_verified
    notices = [m for m in mail.received if m["Subject"] == "Your e-mail address was changed"]
    assert [m["X-Envelope-To"] for m in notices] == [DORA]
    assert SignIn(account_app.test_client()).tokens(NEWER, OLD)["id_token"]


def test_an_address_of_another_account_is_refused_only_after_its_code(dora, account_app, mail):
    create_local_user(account_app, NEWER, "someone else 1")
    dora.press("/change/change-email")
    dora.post(password=OLD)
    page = dora.post(email=NEWER)
    assert "We sent a code to dora.new@example.com" in text(page)  # reads like a free address
    page = dora.post(code=mail.last_code(NEWER))
    assert "Another account already uses dora.new@example.com" in text(page)
    assert user_row(account_app, DORA) is not None


def test_a_wrong_code_keeps_the_old_address(dora, account_app, mail):
    dora.press("/change/change-email")
    dora.post(password=OLD)
    dora.post(email=NEWER)
    code = mail.last_code(NEWER)
    page = dora.post(code=f"{(int(code) + 1) % 10**6:06d}")
    assert "That code is not right" in text(page)
    assert user_row(account_app, DORA) is not None and user_row(account_app, NEWER) is None
