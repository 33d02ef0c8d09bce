"""The shipped ``sign-in`` journey's other ways in and its enrollment offer.

The sign-in page offers a passkey (button and autofill), "E-mail me a code" and "Use my PIN";
after a password sign-in it offers a passkey or a PIN, and "Not now" brings the offer back on
the third sign-in from then. ``passkey-sign-in`` has "Sign in another way" (a ``switch``).
"""

from __future__ import annotations

import json

import pytest

import authenticators
from models import EnrollmentOffer, User, UserSession, db
from settings.errors import ConfigError
from tests.accounts import create_local_user
from tests.authenticators.mail import MailServer
from tests.authenticators.soft_authenticator import SoftAuthenticator, options_of
from tests.authenticators.soft_authenticator import page_text as text
from tests.authenticators.test_passkey import enrol
from tests.conftest import APP_REDIRECT, SignIn, deployment, is_offer

ALICE, PASSWORD = "alice@example.com", "correct horse battery"
OFFER = "Sign in faster next time"


@pytest.fixture
def app(make_app):
    app = make_app()
    create_local_user(app, ALICE, PASSWORD)
    return app


def sign_in_page(app) -> SignIn:
    browser = SignIn(app.test_client())
    browser.start()
    return browser


def password_sign_in(app):
    """One sign-in with the password; returns the page that follows it (offer or redirect)."""
    return sign_in_page(app).post(identifier=ALICE, password=PASSWORD, decline_offers=False)


def test_the_sign_in_page_offers_every_way_in(app):
    page = text(sign_in_page(app).page)
    assert 'autocomplete="username webauthn"' in page  # passkeys in the autofill
    assert 'data-webauthn-conditional' in page and "Sign in with a passkey" in page
    assert "E-mail me a code" in page and "Use my PIN on this device" in page


def test_not_now_brings_the_offer_back_on_the_third_sign_in_from_then(app):
    declined = sign_in_page(app)
    offer = declined.post(identifier=ALICE, password=PASSWORD, decline_offers=False)
    assert is_offer(text(offer))
    assert declined.post(skip="1").headers["Location"].startswith(APP_REDIRECT)
    with app.app_context(), db.connection_context():
        user = User.get(User.email == ALICE)
        offer_row = EnrollmentOffer.get(EnrollmentOffer.user == user)
        assert (offer_row.kind, offer_row.declined) == ("passkey", 1)
    seen = [OFFER in text(password_sign_in(app)) for _ in range(3)]
    assert seen == [False, False, True]


def test_ask_again_never(make_app):
    never = {"sign-in": {"steps": {"offer": {"ask_again_after": "never"}}}}
    app = make_app(DEPLOYMENT=deployment(journeys=never))
    create_local_user(app, ALICE, PASSWORD)
    browser = sign_in_page(app)
    assert is_offer(text(browser.post(identifier=ALICE, password=PASSWORD, decline_offers=False)))
    browser.post(skip="1")
    assert not any(OFFER in text(password_sign_in(app)) for _ in range(5))


def test_a_user_with_a_passkey_is_not_offered_one(app):
    with app.app_context(), db.connection_context():
        alice = User.get(User.email == ALICE)
    device = SoftAuthenticator()
    enrol_existing(app, alice, device)
    assert password_sign_in(app).headers["Location"].startswith(APP_REDIRECT)


def enrol_existing(app, user, device) -> None:
    with app.app_context(), db.connection_context():
        context: dict = {}
        options = json.loads(authenticators.get("passkey").registration_options(context, user))
        authenticators.get("passkey").register(context, user, device.create(options))


def test_creating_the_offered_passkey(app):
    browser = sign_in_page(app)
    offer = browser.post(identifier=ALICE, password=PASSWORD, decline_offers=False)
    device = SoftAuthenticator()
    done = browser.post(credential=device.create(options_of(offer)), decline_offers=False)
    assert done.headers["Location"].startswith(APP_REDIRECT)
    assert password_sign_in(app).headers["Location"].startswith(APP_REDIRECT)  # no more offers


def test_a_passkey_from_the_sign_in_page_autofill(make_app):
    app = make_app()
    device = SoftAuthenticator()
    user_id = enrol(app, "carol@example.com", device)
    browser = sign_in_page(app)
    answer = browser.post(credential=device.get(options_of(browser.page)))
    tokens = browser.exchange(browser.code_from(answer))
    assert browser.id_token_claims(tokens.get_json()["id_token"])["sub"] == user_id
    with app.app_context(), db.connection_context():
        assert UserSession.get(UserSession.user == user_id).amr == ["hwk", "user", "mfa"]


def test_a_refused_autofill_passkey_leaves_the_password_form_working(make_app):
    app = make_app()
    device = SoftAuthenticator()
    enrol(app, "carol@example.com", device)
    browser = sign_in_page(app)
    refused = browser.post(credential=device.get(options_of(browser.page), origin="https://evil.example"))
    assert refused.status_code == 200 and "That passkey didn't work" in text(refused)
    create_local_user(app, ALICE, PASSWORD)
    assert browser.post(identifier=ALICE, password=PASSWORD).headers["Location"].startswith(APP_REDIRECT)


def test_e_mail_me_a_code_from_the_sign_in_page(make_app):
    with MailServer() as mail:
        app = make_app(**mail.config())
        create_local_user(app, ALICE, PASSWORD)
        browser = sign_in_page(app)
        page = browser.post(identifier=ALICE, password="", alternative="code")
        assert f"If an account exists for {ALICE}, we sent a code to it." in text(page)
        answer = browser.post(code=mail.last_code(ALICE))
        tokens = browser.exchange(browser.code_from(answer)).get_json()
        assert browser.id_token_claims(tokens["id_token"])["amr"] == ["otp"]


@pytest.mark.parametrize("alternative", ["code", "pin"])
def test_the_other_ways_need_an_identifier_first(app, alternative):
    browser = sign_in_page(app)
    page = browser.post(identifier="", password="", alternative=alternative)
    assert page.status_code == 200 and "Enter your e-mail address." in text(page)
    assert "Enter your password." not in text(page)


PASSKEYS_ONLY_APP = {"test-app": {**deployment()["apps"]["test-app"], "journey": "passkey-sign-in"}}
ANOTHER_WAY = {"passkey-sign-in": {"steps": {
    "passkey": {"on": {"other": "another-way"}},
    "another-way": {"type": "switch", "journey": "sign-in"}}}}


def test_the_shipped_passkey_journey_has_no_fallback(make_app):
    app = make_app(DEPLOYMENT=deployment(apps=PASSKEYS_ONLY_APP))
    create_local_user(app, ALICE, PASSWORD)
    browser = sign_in_page(app)
    assert "Sign in with a passkey" in text(browser.page)
    assert "Sign in another way" not in text(browser.page)
    assert 'name="password"' not in text(browser.post(other="1"))


def test_sign_in_another_way_when_the_deployment_adds_it_keeps_the_apps_request(make_app):
    app = make_app(DEPLOYMENT=deployment(apps=PASSKEYS_ONLY_APP, journeys=ANOTHER_WAY))
    create_local_user(app, ALICE, PASSWORD)
    browser = sign_in_page(app)
    assert "Sign in another way" in text(browser.page) and 'name="password"' not in text(browser.page)
    page = browser.post(other="1")
    assert 'name="password"' in text(page)
    answer = browser.post(identifier=ALICE, password=PASSWORD)
    assert browser.exchange(browser.code_from(answer)).status_code == 200


def test_a_switch_carries_no_proof_of_who_the_user_is(app):
    from journeys import engine
    from journeys import run as runs
    from journeys.results import Switch

    with app.test_request_context(), db.connection_context():
        token = engine().start("passkey-sign-in", context={"identifier": ALICE})
        run = engine().load(token)
        run.context.update({"user_id": "someone", "amr": ["hwk"], "legacy_amr": ["otp"]})
        engine()._advance(run, Switch("sign-in"))
        runs.save(run)
        moved = engine().load(token)
        assert (moved.journey, moved.step) == ("sign-in", "collect")
        assert moved.context["identifier"] == ALICE
        assert not {"user_id", "amr", "legacy_amr"} & set(moved.context)


@pytest.mark.parametrize("journeys, problem", [
    ({"sign-in": {"steps": {"offer": {"on": {"pin": "done", "registered": "done", "skipped": "done"},
                                      "offer_pin": True}}}}, None),
    ({"sign-in": {"replace": True, "start": "c", "steps": {
        "c": {"type": "collect", "passkeys": True, "on": {"submitted": "d"}},
        "d": {"type": "complete"}}}}, "outcome 'passkey' must be routed"),
    ({"x": {"start": "s", "steps": {"s": {"type": "switch", "journey": "nowhere"}}}},
     "no journey named 'nowhere'"),
    ({"x": {"start": "s", "steps": {"s": {"type": "switch", "journey": "x"}}}},
     "cannot switch to itself"),
    ({"sign-in": {"steps": {"offer": {"ask_again_after": -1}}}}, "ask_again_after"),
    ({"sign-in": {"steps": {"collect": {"identifier": "username"}}}}, "one-time codes need"),
])
def test_step_settings_are_checked_at_start_up(make_app, journeys, problem):
    if problem is None:
        make_app(DEPLOYMENT=deployment(journeys=journeys))
        return
    with pytest.raises(ConfigError) as error:
        make_app(DEPLOYMENT=deployment(journeys=journeys))
    assert any(problem in p for p in error.value.problems), error.value.problems
