"""The shipped ``sign-in-with-code`` journey with ``channel = "sms"`` (and ``"any"``).

Texts go through real HTTP peers on loopback (the Twilio fake, and an operator's signed
webhook); the identifier stays the e-mail address. A migrated user gets the code at their
phone; a user still in a legacy store gets it at the phone the legacy claims hold and is
created with that phone verified; an unknown address, or an account without a phone, reads
exactly like a known one, and no page shows any digit of a phone number.
"""

from __future__ import annotations

import re

import bcrypt
import pytest

from models import LegacyLink, OtpCode, User, db
from settings.errors import ConfigError
from tests.accounts import count_users, create_local_user
from tests.authenticators.mail import MailServer
from tests.authenticators.test_sms_delivery import SmsWebhookReceiver
from tests.conftest import APP_REDIRECT, SignIn, form_fields
from tests.connectors.hashes.legacy import hashes_table, write_csv
from tests.journeys.test_sign_in_with_code import ask_for_code, code_deployment, text, wrong_for
from tests.peers.twilio_fake import TwilioFake

CAROL, CAROLS_PHONE = "carol@example.com", "+447700900456"  # a local (migrated) user
ALICE, ALICES_PHONE = "alice@example.com", "+447700900123"  # only in the legacy export
LEGACY_MAPPING = {"email": "email", "phone": "phone_number", "given_name": "first_name",
                  "family_name": "last_name"}


def sms_deployment(connectors=None, lookup: str | None = None, **send) -> dict:
    tables = code_deployment(connectors, lookup)
    steps = tables.setdefault("journeys", {}).setdefault(
        "sign-in-with-code", {}).setdefault("steps", {})
    steps.setdefault("send", {}).update({"channel": "sms", **send})
    return tables


def legacy_export(tmp_path, **overrides):
    """alice (a formatted phone), bob (no phone) and dave (disabled), bcrypt hashes."""
    hashed = bcrypt.hashpw(b"legacy password", bcrypt.gensalt(4)).decode()
    rows = [
        {"id": "legacy-1", "email": ALICE, "phone_number": "+44 7700 900123",
         "first_name": "Alice", "last_name": "Liddell", "password_hash": hashed, "is_active": "1"},
        {"id": "legacy-2", "email": "bob@example.com", "phone_number": "",
         "first_name": "Bob", "last_name": "Dylan", "password_hash": hashed, "is_active": "1"},
        {"id": "legacy-3", "email": "dave@example.com", "phone_number": "+447700900999",
         "first_name": "Dave", "last_name": "Bowman", "password_hash": hashed, "is_active": "0"},
    ]
    export = write_csv(tmp_path / "users.csv", rows)
    settings = {"active_field": "is_active", "mapping": LEGACY_MAPPING, **overrides}
    return {"legacy": hashes_table(export, **settings)}


@pytest.fixture
def twilio():
    with TwilioFake() as server:
        yield server


@pytest.fixture
def sms_app(make_app, twilio):
    app = make_app(DEPLOYMENT=sms_deployment(), **twilio.config())
    create_local_user(app, CAROL, "unused password 1", phone=CAROLS_PHONE)
    return app


def no_phone_digits(page: str, phone: str) -> bool:
    """The hint holds no digit but the 10 of "10 minutes", and the page no part of the number."""
    hint = re.search(r"If an account exists for .*? It works for 10 minutes\.", page)
    assert hint, page
    for value in form_fields(page).values():  # CSRF tokens are random: they may hold digits
        page = page.replace(value, "")
    return re.findall(r"\d+", hint.group(0)) == ["10"] and phone[-4:] not in page


def test_a_migrated_user_signs_in_with_the_code_texted_to_their_phone(sms_app, twilio):
    browser = ask_for_code(sms_app)
    page = text(browser.page)
    assert ("If an account exists for carol@example.com, we sent a code by text message to its "
            "phone number. It works for 10 minutes.") in page
    assert no_phone_digits(page, CAROLS_PHONE)
    assert [m["to"] for m in twilio.outbox] == [CAROLS_PHONE]
    tokens = browser.exchange(browser.code_from(browser.post(code=twilio.last_code(CAROLS_PHONE))))
    assert tokens.status_code == 200
    assert "otp" in browser.id_token_claims(tokens.get_json()["id_token"])["amr"]
    with sms_app.app_context(), db.connection_context():
        assert User.get(User.email == CAROL).phone_verified is True  # the code reached it


def test_the_operators_own_gateway_works_the_same_way(make_app):
    with SmsWebhookReceiver() as gateway:
        app = make_app(DEPLOYMENT=sms_deployment(), **gateway.config())
        create_local_user(app, CAROL, "unused password 1", phone=CAROLS_PHONE)
        browser = ask_for_code(app)
        (message,) = gateway.delivered
        assert message["to"] == CAROLS_PHONE and gateway.refused == []
        response = browser.post(code=message["code"])
        assert response.status_code == 303 and response.headers["Location"].startswith(APP_REDIRECT)


def test_a_never_migrated_user_gets_the_code_at_the_legacy_phone_and_is_created_verified(
        make_app, twilio, tmp_path):
    app = make_app(DEPLOYMENT=sms_deployment(legacy_export(tmp_path), lookup="legacy"),
                   **twilio.config())
    browser = ask_for_code(app, "Alice@Example.com ")
    assert [m["to"] for m in twilio.outbox] == [ALICES_PHONE]  # E.164, not as the export wrote it
    assert no_phone_digits(text(browser.page), ALICES_PHONE)
    assert count_users(app) == 0
    assert "That code is not right" in text(browser.post(code=wrong_for(twilio.last_code(ALICES_PHONE))))
    response = browser.post(code=twilio.last_code(ALICES_PHONE))
    assert response.status_code == 303 and response.headers["Location"].startswith(APP_REDIRECT)
    with app.app_context(), db.connection_context():
        user = User.get(User.email == ALICE)
        assert (user.phone, user.phone_verified, user.given_name) == (ALICES_PHONE, True, "Alice")
        assert user.email_verified is False  # the code proved the phone, not the address
        assert LegacyLink.get(LegacyLink.user == user).subject == "legacy-1"
    # Bob has no phone and Dave is disabled: nothing is sent, and both read like Alice.
    for address in ("bob@example.com", "dave@example.com"):
        assert "we sent a code by text message" in text(ask_for_code(app, address).page)
    assert [m["to"] for m in twilio.outbox] == [ALICES_PHONE]


def test_a_mapped_phone_verified_claim_is_set_too(make_app, twilio, tmp_path):
    mapping = {**LEGACY_MAPPING, "phone_verified": "phone_confirmed|bool"}
    app = make_app(DEPLOYMENT=sms_deployment(legacy_export(tmp_path, mapping=mapping),
                                             lookup="legacy"), **twilio.config())
    browser = ask_for_code(app, ALICE)
    assert browser.post(code=twilio.last_code(ALICES_PHONE)).status_code == 303
    with app.app_context(), db.connection_context():
        assert User.get(User.email == ALICE).phone_verified is True


def test_an_sms_provider_that_is_down_consumes_nothing(sms_app, twilio):
    browser = SignIn(sms_app.test_client())
    browser.start()
    with twilio.stopped():
        response = browser.post(identifier=CAROL)
        for _ in range(6):  # more than the hourly budget of sends
            assert response.status_code == 200
            assert "We could not send the code" in text(response)
            response = browser.post()  # "Try again"
        with sms_app.app_context(), db.connection_context():
            assert OtpCode.select().count() == 0
    response = browser.post()
    assert "we sent a code by text message" in text(response)
    assert browser.post(code=twilio.last_code(CAROLS_PHONE)).status_code == 303


def test_a_failed_resend_leaves_the_last_code_working(make_app, twilio):
    tables = sms_deployment()
    tables["journeys"]["sign-in-with-code"]["steps"]["send"]["on"] = {
        "sent": "verify", "unavailable": "verify", "throttled": "identify"}
    app = make_app(DEPLOYMENT=tables, **twilio.config())
    create_local_user(app, CAROL, "unused password 1", phone=CAROLS_PHONE)
    browser = ask_for_code(app)
    first = twilio.last_code(CAROLS_PHONE)
    twilio.failing = True  # Twilio answers 500 20500
    response = browser.post(resend="1")
    assert "We could not send the code" in text(response)
    assert len(twilio.outbox) == 1
    response = browser.post(code=first)
    assert response.status_code == 303 and response.headers["Location"].startswith(APP_REDIRECT)


def test_an_unknown_address_or_an_account_without_a_phone_reads_exactly_like_a_known_one(
        sms_app, twilio):
    create_local_user(sms_app, "erin@example.com", "unused password 2")  # no phone

    def normalised(browser, address):
        page = text(browser.page)
        return page.replace(form_fields(page)["csrf_token"], "CSRF").replace(address, "ADDRESS")

    pages = {address: normalised(ask_for_code(sms_app, address), address)
             for address in (CAROL, "nobody@example.com", "erin@example.com")}
    assert len(set(pages.values())) == 1
    assert [m["to"] for m in twilio.outbox] == [CAROLS_PHONE]


def test_any_sends_by_e_mail_when_the_account_has_an_address_else_by_sms(make_app, twilio,
                                                                         tmp_path):
    # A legacy store whose users sign in with an e-mail-shaped login; some have no mailbox.
    hashed = bcrypt.hashpw(b"legacy password", bcrypt.gensalt(4)).decode()
    export = write_csv(tmp_path / "users.csv", [
        {"id": "1", "login": ALICE, "contact": ALICE, "phone_number": ALICES_PHONE,
         "password_hash": hashed},
        {"id": "2", "login": "bob@example.com", "contact": "", "phone_number": "+447700900789",
         "password_hash": hashed},
    ])
    legacy = hashes_table(export, identifier_field="login",
                          mapping={"email": "contact", "phone": "phone_number"})
    with MailServer() as mail:
        app = make_app(DEPLOYMENT=sms_deployment({"legacy": legacy}, lookup="legacy",
                                                 channel="any"),
                       **mail.config(), **twilio.config())
        alice = ask_for_code(app, ALICE)
        bob = ask_for_code(app, "bob@example.com")
        assert [m["X-Envelope-To"] for m in mail.received] == [ALICE]
        assert [m["to"] for m in twilio.outbox] == ["+447700900789"]
        hint = "we sent a code to its e-mail address or, if it has none, by text message"
        assert hint in text(alice.page) and hint in text(bob.page)
        assert alice.post(code=mail.last_code(ALICE)).status_code == 303
        assert bob.post(code=twilio.last_code("+447700900789")).status_code == 303
    with app.app_context(), db.connection_context():
        alice_user = User.get(User.email == ALICE)
        assert (alice_user.email_verified, alice_user.phone_verified) == (True, False)
        bob_user = User.get(User.phone == "+447700900789")
        assert (bob_user.email, bob_user.phone_verified) == (None, True)


def test_an_sms_channel_without_an_sms_sender_stops_start_up(make_app):
    with pytest.raises(ConfigError, match="channel: 'sms' needs an SMS sender"):
        make_app(DEPLOYMENT=sms_deployment())
