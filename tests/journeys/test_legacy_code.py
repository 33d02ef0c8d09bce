"""The ``legacy_code`` step in a journey, walked like a browser, against the Auth0 fake.

identify -> legacy_code (Auth0 sends the code, Auth0 checks it) -> create_user -> complete, and
for users who already migrated: legacy_code -[local]-> otp_send -> otp_verify (Ferry's code).
"""

from __future__ import annotations

import json
import re

import pytest

from models import LegacyLink, PasswordCredential, User, db
from settings.errors import ConfigError
from tests.accounts import count_users, create_local_user
from tests.authenticators.mail import MailServer
from tests.conftest import APP_REDIRECT, SignIn, deployment, form_fields
from tests.journeys.test_sign_in_with_code import ask_for_code as ask_with
from tests.journeys.test_sign_in_with_code import text, wrong_for
from tests.peers.auth0_fake import Auth0Fake, Fault

ALICE = "alice@example.com"  # at Auth0 (email connection), not yet migrated
ALICE_SUB = "email|65f0c1a2b3d4e5f601234567"
CAROL = "carol@example.com"  # migrated: a local user
HINT = "If an account exists for {}, we sent a code to it. It works for 3 minutes."
WRONG = "That code is not right, or it has expired."
COULD_NOT_SEND = "We could not send the code"
COULD_NOT_CHECK = "We could not check the code right now"


def code_journey(connector: str = "corp-auth0") -> dict:
    """The README's example journey: Auth0's codes, Ferry's own for migrated users."""
    return {
        "title": "Sign in with a code",
        "start": "identify",
        "steps": {
            "identify": {"type": "identify", "on": {"submitted": "code"}},
            "code": {"type": "legacy_code", "connector": connector,
                     "on": {"success": "create", "local": "send", "failure": "identify",
                            "unavailable": "code-failed", "throttled": "identify",
                            "resend": "code"}},
            "create": {"type": "create_user",
                       "on": {"created": "done", "linked": "done", "conflict": "conflict"}},
            "send": {"type": "otp_send",
                     "on": {"sent": "verify", "unavailable": "code-failed", "throttled": "identify"}},
            "verify": {"type": "otp_verify",
                       "on": {"success": "done", "failure": "identify", "resend": "send"}},
            "code-failed": {"type": "notice", "title": "No code right now",
                            "message": "Nothing was used up.", "button": "Try again",
                            "on": {"continue": "identify"}},
            "conflict": {"type": "reject", "title": "We couldn't finish signing you in",
                         "message": "Please contact support."},
            "done": {"type": "complete"},
        },
    }


def auth0_connector(fake: Auth0Fake, **settings) -> dict:
    return {"type": "auth0", "base_url": fake.base_url, "client_id": fake.client.client_id,
            "client_secret": fake.client.client_secret, "passwordless": "email",
            "connect_timeout": 0.5, "read_timeout": 0.5, **settings}


def code_deployment(fake: Auth0Fake, journey: dict | None = None, **settings) -> dict:
    tables = deployment({"corp-auth0": auth0_connector(fake, **settings)},
                        journeys={"sign-in-with-auth0-code": journey or code_journey()})
    tables["apps"]["test-app"]["journey"] = "sign-in-with-auth0-code"
    return tables


@pytest.fixture
def auth0():
    with Auth0Fake() as fake:
        yield fake


@pytest.fixture
def mail():
    with MailServer() as server:
        yield server


@pytest.fixture
def code_app(make_app, auth0, mail):
    app = make_app(DEPLOYMENT=code_deployment(auth0), **mail.config())
    create_local_user(app, CAROL, "unused password 1")
    return app


def ask_for_code(app, identifier: str = ALICE) -> SignIn:
    return ask_with(app, identifier)


def local_user(app, email: str) -> User:
    with app.app_context(), db.connection_context():
        return User.get(User.email == email)


# -- the migration ---------------------------------------------------------------------------
@pytest.mark.parametrize("maps_verified", [True, False], ids=["mapped", "not-mapped"])
def test_a_user_not_yet_migrated_signs_in_with_auth0s_code(make_app, auth0, maps_verified):
    mapping = {"email": "email", "given_name": "given_name", "family_name": "family_name"}
    if maps_verified:
        mapping["email_verified"] = "email_verified|bool"
    app = make_app(DEPLOYMENT=code_deployment(auth0, mapping=mapping))
    browser = ask_for_code(app, "Alice@Example.com ")

    page = text(browser.page)
    assert HINT.format(ALICE) in page
    assert re.search(r'<label[^>]*for="code"[^>]*>Code</label>', page)
    assert 'autocomplete="one-time-code"' in page
    assert [sent.to for sent in auth0.sent] == [ALICE]
    assert count_users(app) == 0

    tokens = browser.exchange(browser.code_from(browser.post(code=auth0.last_code(ALICE))))
    assert tokens.status_code == 200
    assert browser.id_token_claims(tokens.get_json()["id_token"])["amr"] == ["otp"]
    user = local_user(app, ALICE)
    assert (user.email_verified, user.given_name, user.family_name) == (True, "Alice", "Liddell")
    with app.app_context(), db.connection_context():
        link = LegacyLink.get(LegacyLink.user == user.id)
        assert (link.connector, link.subject) == ("corp-auth0", ALICE_SUB)
        assert PasswordCredential.select().count() == 0  # no password was ever typed


def test_a_profile_for_another_address_is_not_marked_verified(make_app, auth0):
    """Only the address the code went to is proved, whatever Auth0 returns."""
    app = make_app(DEPLOYMENT=code_deployment(auth0))
    browser = ask_for_code(app)
    auth0.faults["/userinfo"] = Fault(200, json.dumps(
        {"sub": ALICE_SUB, "email": "other@example.com", "email_verified": False}))
    assert browser.post(code=auth0.last_code(ALICE)).status_code == 303
    assert local_user(app, "other@example.com").email_verified is False


def test_a_wrong_code_is_told_and_the_right_one_still_works(code_app, auth0):
    browser = ask_for_code(code_app)
    response = browser.post(code=wrong_for(auth0.last_code(ALICE)))
    assert response.status_code == 200 and WRONG in text(response)
    assert HINT.format(ALICE) in text(response) and count_users(code_app) == 1
    assert browser.post(code=auth0.last_code(ALICE)).headers["Location"].startswith(APP_REDIRECT)


@pytest.mark.parametrize("typed", ["1234567", "abcdef", "12345"])
def test_a_malformed_code_is_told_and_never_reaches_auth0(code_app, auth0, typed):
    browser = ask_for_code(code_app)
    response = browser.post(code=typed)
    assert "The code is 6 digits, like 123456." in text(response)
    assert auth0.calls("/oauth/token") == []


def test_three_wrong_codes_end_the_attempt(code_app, auth0):
    browser = ask_for_code(code_app)
    code = auth0.last_code(ALICE)
    for _ in range(2):
        assert WRONG in text(browser.post(code=wrong_for(code)))
    response = browser.post(code=wrong_for(code))
    assert "Too many wrong codes. Please start again." in text(response)
    assert 'name="identifier"' in text(response)  # back to the e-mail page
    assert count_users(code_app) == 1


def test_auth0s_brute_force_protection_is_too_many_attempts(make_app, auth0):
    auth0.brute_force_limit = 2
    app = make_app(DEPLOYMENT=code_deployment(auth0))
    browser = ask_for_code(app)
    code = auth0.last_code(ALICE)
    for _ in range(2):
        assert WRONG in text(browser.post(code=wrong_for(code)))
    response = browser.post(code=code)
    assert "Too many attempts. Please try again later." in text(response)
    assert count_users(app) == 0


# -- Auth0 down --------------------------------------------------------------------------------
def test_auth0_down_when_sending_consumes_nothing(make_app, auth0):
    # A breaker that stays closed, so that every try reaches the (stopped) fake.
    app = make_app(DEPLOYMENT=code_deployment(auth0, breaker_failures=10))
    browser = SignIn(app.test_client())
    browser.start()
    with auth0.stopped():
        for _ in range(6):  # more than the hourly budget of codes
            response = browser.post(identifier=ALICE)
            assert response.status_code == 200 and COULD_NOT_SEND in text(response)
            browser.post()  # "Try again": back to the e-mail page
    assert auth0.sent == []
    response = browser.post(identifier=ALICE)
    assert HINT.format(ALICE) in text(response)
    assert browser.post(code=auth0.last_code(ALICE)).status_code == 303
    assert count_users(app) == 1


def test_auth0_down_when_checking_keeps_the_code(code_app, auth0):
    browser = ask_for_code(code_app)
    code = auth0.last_code(ALICE)
    with auth0.stopped():
        response = browser.post(code=code)
        assert response.status_code == 200 and COULD_NOT_CHECK in text(response)
    assert count_users(code_app) == 1
    browser.post()  # "Try again"
    response = browser.post(identifier=ALICE)  # the code sent is still the one to type
    assert HINT.format(ALICE) in text(response) and len(auth0.sent) == 1
    assert browser.post(code=code).status_code == 303


# -- nobody learns who has an account ------------------------------------------------------------
@pytest.mark.parametrize("sign_ups", ["on", "off"])
def test_an_unknown_address_reads_exactly_like_a_known_one(code_app, auth0, sign_ups):
    auth0.passwordless["email"].disable_signup = sign_ups == "off"

    def normalised(browser, address):
        page = text(browser.page)
        return page.replace(form_fields(page)["csrf_token"], "CSRF").replace(address, "ADDRESS")

    known, unknown = ask_for_code(code_app, ALICE), ask_for_code(code_app, "nobody@example.com")
    assert normalised(known, ALICE) == normalised(unknown, "nobody@example.com")
    expected = [ALICE] if sign_ups == "off" else [ALICE, "nobody@example.com"]
    assert [sent.to for sent in auth0.sent] == expected
    typed = wrong_for(auth0.last_code(ALICE))
    answers = [known.post(code=typed), unknown.post(code=typed)]
    assert normalised(known, ALICE) == normalised(unknown, "nobody@example.com")
    assert all(WRONG in text(answer) for answer in answers)


def test_a_code_from_someone_elses_run_does_not_work(code_app, auth0):
    victim = ask_for_code(code_app, ALICE)
    victims_code = auth0.last_code(ALICE)
    attacker = ask_for_code(code_app, "mallory@example.com")
    assert WRONG in text(attacker.post(code=victims_code))
    assert victim.post(code=victims_code).status_code == 303
    assert count_users(code_app) == 2  # Carol and Alice, nobody else


def test_a_new_run_for_the_same_address_kills_the_last_code(code_app, auth0):
    victim = ask_for_code(code_app, ALICE)
    leaked = auth0.last_code(ALICE)
    attacker = ask_for_code(code_app, ALICE)  # Auth0 sends a new code to Alice's mailbox
    if auth0.last_code(ALICE) != leaked:
        assert WRONG in text(attacker.post(code=leaked))
        assert WRONG in text(victim.post(code=leaked))
    assert count_users(code_app) == 1


def test_the_code_form_needs_its_csrf_token(code_app, auth0):
    browser = ask_for_code(code_app)
    fields = form_fields(text(browser.page))
    forged = browser.client.post("/login", data={"step": fields["step"],
                                                 "code": auth0.last_code(ALICE)})
    assert forged.status_code == 400
    assert auth0.calls("/oauth/token") == [] and count_users(code_app) == 1
    assert browser.post(code=auth0.last_code(ALICE)).status_code == 303


# -- resends, reloads, migrated users ------------------------------------------------------------
def test_a_reload_sends_no_new_code(code_app, auth0):
    browser = ask_for_code(code_app)
    assert HINT.format(ALICE) in text(browser.client.get("/login"))
    assert len(auth0.sent) == 1


def test_resends_are_new_codes_and_throttled(code_app, auth0):
    browser = ask_for_code(code_app)
    for _ in range(4):  # 5 codes in all
        assert HINT.format(ALICE) in text(browser.post(resend="1"))
    assert len(auth0.sent) == 5
    response = browser.post(resend="1")  # a sixth within the hour
    assert "Too many attempts. Try again in" in text(response)
    assert 'name="identifier"' in text(response) and len(auth0.sent) == 5
    # The last code sent still works.
    assert HINT.format(ALICE) in text(browser.post(identifier=ALICE))
    assert len(auth0.sent) == 5
    assert browser.post(code=auth0.last_code(ALICE)).status_code == 303


def test_a_migrated_user_gets_ferrys_own_code(code_app, auth0, mail):
    browser = ask_for_code(code_app, CAROL)
    assert "It works for 10 minutes." in text(browser.page)  # otp_verify's page
    assert auth0.calls("/passwordless/start") == []
    tokens = browser.exchange(browser.code_from(browser.post(code=mail.last_code(CAROL))))
    assert tokens.status_code == 200
    assert count_users(code_app) == 1


# -- start-up checks -----------------------------------------------------------------------------
@pytest.mark.parametrize(("settings", "connector", "problem"), [
    ({"passwordless": None}, "corp-auth0", "does not send one-time codes"),
    ({"passwordless": "sms"}, "corp-auth0", 'set passwordless = "email"'),
    ({}, "nope", "no connector named 'nope'"),
])
def test_a_connector_without_codes_stops_start_up(make_app, auth0, settings, connector, problem):
    tables = code_deployment(auth0, journey=code_journey(connector), **settings)
    tables["connectors"]["corp-auth0"] = {k: v for k, v in tables["connectors"]["corp-auth0"].items()
                                          if v is not None}
    with pytest.raises(ConfigError, match=re.escape(problem)):
        make_app(DEPLOYMENT=tables)
