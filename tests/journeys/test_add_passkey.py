"""The account page's "Add a passkey": the ``add-passkey`` journey for a signed-in user.

A second passkey (another device) is only for a recent sign-in; an older session signs in
again first. Cancelling records no "Not now" against the sign-in offer.
"""

from __future__ import annotations

import pytest

from models import EnrollmentOffer, PasskeyCredential, UserSession, db
from tests.accounts import sign_in_locally
from tests.authenticators.soft_authenticator import SoftAuthenticator, options_of
from tests.authenticators.soft_authenticator import page_text as text
from tests.conftest import form_fields

EMAIL, PASSWORD = "kim@example.com", "a long local password"


@pytest.fixture
def kim(app, client) -> str:
    return sign_in_locally(app, client, EMAIL, PASSWORD)


def add(client):
    """Press "Add a passkey" on the account page; returns the page it leads to."""
    token = form_fields(client.get("/").get_data(as_text=True))["csrf_token"]
    answer = client.post("/passkeys/add", data={"csrf_token": token})
    assert answer.status_code == 303 and answer.headers["Location"] == "/login"
    return client.get("/login")


def passkeys_of(app, user_id) -> list[PasskeyCredential]:
    with app.app_context(), db.connection_context():
        return list(PasskeyCredential.select().where(PasskeyCredential.user == user_id))


def test_add_two_passkeys_from_the_account_page(app, client, kim):
    assert "Add a passkey" in client.get("/").get_data(as_text=True)
    for device in (SoftAuthenticator(), SoftAuthenticator()):
        page = add(client)
        assert "Add a passkey" in text(page) and "Cancel" in text(page)
        known = [c["id"] for c in options_of(page)["excludeCredentials"]]
        assert known == [p.credential_id for p in passkeys_of(app, kim)]
        fields = form_fields(page.get_data(as_text=True))
        done = client.post("/login", data={**fields, "credential": device.create(options_of(page))})
        assert done.status_code == 303 and done.headers["Location"] == "/"
    assert len(passkeys_of(app, kim)) == 2
    assert text(client.get("/")).count("Passkey name") == 2
    with app.app_context(), db.connection_context():
        # No new Ferry session was started: the journey changed the account, it signed nobody in.
        assert UserSession.select().where(UserSession.user == kim).count() == 1


def declines(app) -> list[tuple[int, int | None]]:
    with app.app_context(), db.connection_context():
        return [(o.declined, o.ask_after) for o in EnrollmentOffer.select()]


def test_cancel_goes_back_and_records_no_decline(app, client, kim):
    before = declines(app)  # the sign-in's own "Not now" to the offer
    page = add(client)
    fields = form_fields(page.get_data(as_text=True))
    back = client.post("/login", data={**fields, "skip": "1"})
    assert back.headers["Location"] == "/"
    assert passkeys_of(app, kim) == []
    assert declines(app) == before


def test_an_older_session_signs_in_again_first(app, client, kim):
    with app.app_context(), db.connection_context():
        UserSession.update(auth_time=UserSession.auth_time - 601).execute()
    page = add(client)
    assert "Please sign in again" in text(page)
    fields = form_fields(page.get_data(as_text=True))
    sign_in = client.post("/login", data=fields)
    assert 'name="password"' in text(sign_in)
    assert passkeys_of(app, kim) == []


def test_only_a_signed_in_user_with_the_csrf_token(app, client, kim):
    assert client.post("/passkeys/add", data={}).status_code == 400
    stranger = app.test_client()
    token = form_fields(stranger.get("/login").get_data(as_text=True))["csrf_token"]
    assert stranger.post("/passkeys/add", data={"csrf_token": token}).status_code == 401
