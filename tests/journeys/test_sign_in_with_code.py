"""The shipped ``sign-in-with-code`` journey, walked like a browser, mail through real SMTP.

identify -> otp_send -> otp_verify -> complete (or create_user for a user found in a legacy
store): bad codes are told on the page, never a 500, and nothing tells who has an account.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

import bcrypt
import pytest

from authenticators import otp as otp_module
from models import LegacyLink, OtpCode, PasswordCredential, User, db, utcnow
from settings.errors import ConfigError
from tests.accounts import count_users, create_local_user
from tests.authenticators.mail import MailServer
from tests.conftest import APP_REDIRECT, SignIn, deployment, form_fields
from tests.connectors.hashes.legacy import hashes_table, people, write_csv

ALICE = "alice@example.com"
CAROL = "carol@example.com"  # a local (migrated) user


def code_deployment(connectors=None, lookup: str | None = None) -> dict:
    tables = deployment(connectors)
    tables["apps"]["test-app"]["journey"] = "sign-in-with-code"
    if lookup:
        tables["journeys"] = {"sign-in-with-code": {"steps": {"send": {"lookup_connector": lookup}}}}
    return tables


@pytest.fixture
def mail():
    with MailServer() as server:
        yield server


@pytest.fixture
def code_app(make_app, mail):
    app = make_app(DEPLOYMENT=code_deployment(), **mail.config())
    create_local_user(app, CAROL, "unused password 1")
    return app


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def ask_for_code(app, identifier: str = CAROL) -> SignIn:
    browser = SignIn(app.test_client())
    browser.start()
    response = browser.post(identifier=identifier)
    assert response.status_code == 200, text(response)[:500]
    return browser


def wrong_for(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_a_migrated_user_signs_in_with_the_code_from_their_mailbox(code_app, mail):
    browser = ask_for_code(code_app)
    page = text(browser.page)
    assert "If an account exists for carol@example.com, we sent a code to it." in page
    assert re.search(r'<label[^>]*for="code"[^>]*>Code</label>', page)
    assert 'autocomplete="one-time-code"' in page
    tokens = browser.exchange(browser.code_from(browser.post(code=mail.last_code(CAROL))))
    assert tokens.status_code == 200
    assert "otp" in browser.id_token_claims(tokens.get_json()["id_token"])["amr"]


@pytest.mark.parametrize("typed", ["1234567", "abcdef", "12345"])
def test_a_malformed_code_is_told_and_not_counted(code_app, mail, typed):
    browser = ask_for_code(code_app)
    for _ in range(5):
        response = browser.post(code=typed)
        assert response.status_code == 200
        assert "The code is 6 digits, like 123456." in text(response)
    assert browser.post(code=mail.last_code(CAROL)).headers["Location"].startswith(APP_REDIRECT)


def test_five_wrong_codes_kill_the_code(code_app, mail):
    browser = ask_for_code(code_app)
    code = mail.last_code(CAROL)
    for _ in range(4):
        assert "That code is not right" in text(browser.post(code=wrong_for(code)))
    response = browser.post(code=wrong_for(code))
    assert "Too many wrong codes. Please start again." in text(response)
    assert 'name="identifier"' in text(response)  # back to the e-mail page
    with code_app.app_context(), db.connection_context():
        assert OtpCode.select().count() == 0  # the dead code is gone


def test_a_replayed_code_is_refused(code_app, mail):
    first = ask_for_code(code_app)
    code = mail.last_code(CAROL)
    assert first.post(code=code).status_code == 303
    again = ask_for_code(code_app)  # a new run; the old code belonged to the old one
    response = again.post(code=code)
    assert response.status_code == 200 and "That code is not right" in text(response)


def test_a_code_of_another_run_is_refused(code_app, mail):
    victim = ask_for_code(code_app)
    victims_code = mail.last_code(CAROL)
    attacker = ask_for_code(code_app)  # asks for a code of their own
    assert "That code is not right" in text(attacker.post(code=victims_code))
    assert victim.post(code=victims_code).status_code == 303


def test_an_expired_code_is_refused(code_app, mail, monkeypatch):
    browser = ask_for_code(code_app)
    later = utcnow() + timedelta(minutes=10, seconds=1)
    monkeypatch.setattr(otp_module, "utcnow", lambda: later)
    response = browser.post(code=mail.last_code(CAROL))
    assert response.status_code == 200 and "That code has expired. Send a new code." in text(response)


def test_resends_are_throttled_and_keep_the_wrong_count(code_app, mail):
    browser = ask_for_code(code_app)
    for _ in range(3):
        browser.post(code=wrong_for(mail.last_code(CAROL)))
    for _ in range(4):  # 5 codes in all
        response = browser.post(resend="1")
        assert "If an account exists" in text(response)
    assert len(mail.received) == 5
    latest = mail.last_code(CAROL)
    assert "That code is not right" in text(browser.post(code=wrong_for(latest)))
    assert "Too many wrong codes" in text(browser.post(code=wrong_for(latest)))
    response = browser.post(identifier=CAROL)  # a sixth code within the hour
    assert "Too many attempts. Try again in" in text(response)
    assert len(mail.received) == 5


def test_an_smtp_server_that_is_down_consumes_nothing(make_app):
    mail = MailServer()  # configured, not yet started
    app = make_app(DEPLOYMENT=code_deployment(), **mail.config())
    create_local_user(app, CAROL, "unused password 1")
    browser = SignIn(app.test_client())
    browser.start()
    response = browser.post(identifier=CAROL)
    for _ in range(6):  # more than the hourly budget of sends
        assert response.status_code == 200
        assert "We could not send the code" in text(response)
        response = browser.post()  # "Try again"
    with app.app_context(), db.connection_context():
        assert OtpCode.select().count() == 0
    with mail:
        response = browser.post()
        assert "If an account exists" in text(response)
        assert browser.post(code=mail.last_code(CAROL)).status_code == 303


def test_an_unknown_address_reads_exactly_like_a_known_one(code_app, mail):
    def normalised(browser, address):
        page = text(browser.page)
        return page.replace(form_fields(page)["csrf_token"], "CSRF").replace(address, "ADDRESS")

    known, unknown = ask_for_code(code_app, CAROL), ask_for_code(code_app, "nobody@example.com")
    assert normalised(known, CAROL) == normalised(unknown, "nobody@example.com")
    assert [m["X-Envelope-To"] for m in mail.received] == [CAROL]
    for browser in (known, unknown):
        assert "That code is not right" in text(browser.post(code="000000" if browser is unknown
                                                             else wrong_for(mail.last_code(CAROL))))


@pytest.mark.parametrize("maps_verified", [True, False], ids=["mapped", "not-mapped"])
def test_a_never_migrated_user_of_a_hashes_export_signs_in_and_is_created_verified(
        make_app, mail, tmp_path, maps_verified):
    export = write_csv(tmp_path / "users.csv", people(
        alice=bcrypt.hashpw(b"legacy password", bcrypt.gensalt(4)).decode()))
    mapping = {"email": "email", "given_name": "first_name", "family_name": "last_name"}
    if maps_verified:
        mapping["email_verified"] = "email_verified|bool"
    legacy = hashes_table(export, active_field="is_active", mapping=mapping)
    app = make_app(DEPLOYMENT=code_deployment({"legacy": legacy}, lookup="legacy"), **mail.config())
    browser = ask_for_code(app, "Alice@Example.com ")
    assert count_users(app) == 0
    response = browser.post(code=mail.last_code(ALICE))
    assert response.status_code == 303 and response.headers["Location"].startswith(APP_REDIRECT)
    with app.app_context(), db.connection_context():
        user = User.get(User.email == ALICE)
        assert (user.email_verified, user.given_name) == (True, "Alice")
        assert LegacyLink.get(LegacyLink.user == user).subject == "legacy-1"
        assert PasswordCredential.select().count() == 0  # no password was ever typed
    # A disabled legacy account reads like an unknown one, and nothing is sent.
    ask_for_code(app, "dave@example.com")
    assert [m["X-Envelope-To"] for m in mail.received] == [ALICE]


def test_a_lookup_connector_that_cannot_look_users_up_stops_start_up(make_app):
    with pytest.raises(ConfigError, match="lookup_connector: no connector named 'nope'"):
        make_app(DEPLOYMENT=code_deployment(lookup="nope"))
