"""The ``auth0`` connector's MFA (a TOTP challenge finished with the mfa-otp grant) and whole
sign-ins through Ferry that migrate an Auth0 user, or refuse one and create nothing.
"""

from __future__ import annotations

import json

import pytest

from connectors import (
    InvalidCredentials,
    LegacyUnavailable,
    MfaRequired,
)
from models import LegacyLink, User, db
from tests.accounts import count_users
from tests.conftest import SignIn
from tests.connectors.auth0.conftest import (
    ALICE,
    ALICE_PASSWORD,
    LOCKED_NOTICE,
    MALLORY,
    MALLORY_PASSWORD,
    auth0_table,
    ferry,
    other_code,
)
from tests.connectors.conftest import UNAVAILABLE, WRONG_CREDENTIALS, page_text, retry_after
from tests.connectors.contract import build_connector
from tests.peers.auth0_mfa import totp


# -- MFA ---------------------------------------------------------------------------------------
def test_mfa_is_a_totp_challenge_finished_with_the_mfa_otp_grant(app, auth0):
    connector = build_connector(app, auth0_table(auth0))
    with pytest.raises(MfaRequired) as challenge:
        connector.verify(MALLORY, MALLORY_PASSWORD)
    state = challenge.value.state
    assert challenge.value.factor == "totp"
    assert json.loads(json.dumps(state)) == state  # kept in the journey run as JSON
    assert MALLORY_PASSWORD not in json.dumps(state)

    with pytest.raises(InvalidCredentials):
        connector.complete_mfa(state, other_code(auth0, MALLORY))
    code = auth0.code(MALLORY)
    identity = connector.complete_mfa(state, code)

    assert identity.subject == "auth0|mallory0005" and identity.claims["email"] == MALLORY
    form = auth0.calls("/oauth/token")[-1].form
    assert form["grant_type"] == "http://auth0.com/oauth/grant-type/mfa-otp"
    assert (form["mfa_token"], form["otp"]) == (state["mfa_token"], code)
    assert form["client_secret"] == auth0.client.client_secret


def test_a_used_or_expired_mfa_challenge_is_unavailable_not_a_wrong_code(app, auth0):
    connector = build_connector(app, auth0_table(auth0))
    with pytest.raises(MfaRequired) as first:
        connector.verify(MALLORY, MALLORY_PASSWORD)
    connector.complete_mfa(first.value.state, auth0.code(MALLORY))
    with pytest.raises(LegacyUnavailable) as used:  # the mfa_token is spent
        connector.complete_mfa(first.value.state, auth0.code(MALLORY))
    assert "mfa_token" in used.value.reason

    with pytest.raises(MfaRequired) as second:
        connector.verify(MALLORY, MALLORY_PASSWORD)
    auth0.expire_mfa_tokens()
    with pytest.raises(LegacyUnavailable) as expired:
        connector.complete_mfa(second.value.state, auth0.code(MALLORY))
    assert "expired_token" in expired.value.reason
    with pytest.raises(LegacyUnavailable):
        connector.complete_mfa({}, "123456")


def test_a_user_with_only_factors_ferry_cannot_answer_is_not_asked_for_a_code(app, auth0):
    with pytest.raises(LegacyUnavailable) as unavailable:
        build_connector(app, auth0_table(auth0)).verify("sam@example.com", "sms-only-8")
    assert "oob" in unavailable.value.reason
    assert len(auth0.calls("/mfa/authenticators")) == 1


def test_the_mfa_grant_not_enabled_is_unavailable(app, auth0):
    auth0.client.grant_types.discard("http://auth0.com/oauth/grant-type/mfa-otp")
    connector = build_connector(app, auth0_table(auth0))
    with pytest.raises(MfaRequired) as challenge:
        connector.verify(MALLORY, MALLORY_PASSWORD)
    with pytest.raises(LegacyUnavailable) as unavailable:
        connector.complete_mfa(challenge.value.state, auth0.code(MALLORY))
    assert "unauthorized_client" in unavailable.value.reason


def test_the_fakes_totp_is_rfc_6238():
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # base32 of "12345678901234567890"
    assert totp(secret, at=59, digits=8) == "94287082"
    assert totp(secret, at=1111111109, digits=8) == "07081804"
    assert totp(secret, at=20000000000, digits=8) == "65353130"


# -- whole sign-ins ------------------------------------------------------------------------------
def test_a_user_migrates_from_auth0(make_app, auth0):
    app = ferry(make_app, auth0)
    walker = SignIn(app.test_client())

    walker.code_from(walker.sign_in(ALICE, ALICE_PASSWORD))

    with app.app_context(), db.connection_context():
        user = User.get(User.email == ALICE)
        link = LegacyLink.get(LegacyLink.user == user)
    assert (user.given_name, user.family_name, user.email_verified) == ("Alice", "Liddell", True)
    assert (link.connector, link.subject) == ("corp-auth0", "auth0|alice0001")


def test_an_mfa_user_migrates_only_after_the_right_code(make_app, auth0):
    app = ferry(make_app, auth0)
    walker = SignIn(app.test_client())

    asked = walker.sign_in(MALLORY, MALLORY_PASSWORD)
    assert asked.status_code == 200 and "Verification code" in page_text(asked)
    assert count_users(app) == 0

    wrong = walker.post(code=other_code(auth0, MALLORY))
    assert wrong.status_code == 200
    assert "That code is not right" in page_text(wrong) and "Verification code" in page_text(wrong)
    assert count_users(app) == 0

    walker.code_from(walker.post(code=auth0.code(MALLORY)))
    with app.app_context(), db.connection_context():
        link = LegacyLink.get(LegacyLink.subject == "auth0|mallory0005")
        assert link.user.email == MALLORY
    assert count_users(app) == 1


def test_wrong_codes_end_the_attempt_and_create_nothing(make_app, auth0):
    app = ferry(make_app, auth0)
    walker = SignIn(app.test_client())
    walker.sign_in(MALLORY, MALLORY_PASSWORD)
    for _ in range(4):
        assert "That code is not right" in page_text(walker.post(code=other_code(auth0, MALLORY)))
    last = walker.post(code=other_code(auth0, MALLORY))
    assert "Too many wrong codes" in page_text(last)
    assert count_users(app) == 0


@pytest.mark.parametrize(("identifier", "password", "says"), [
    (ALICE, "not-her-password", WRONG_CREDENTIALS),
    ("nobody@example.com", ALICE_PASSWORD, WRONG_CREDENTIALS),
    ("carol@example.com", "locked-out-42", LOCKED_NOTICE),
    ("leaked@example.com", "password123", "You need to choose a new password"),
])
def test_a_refused_sign_in_creates_no_user(make_app, auth0, identifier, password, says):
    app = ferry(make_app, auth0)
    answer = SignIn(app.test_client()).sign_in(identifier, password)
    assert answer.status_code == 200 and says in page_text(answer)
    assert count_users(app) == 0


def test_an_auth0_outage_is_try_again_later_and_not_counted(make_app, auth0):
    app = ferry(make_app, auth0)
    with auth0.stopped():
        answer = SignIn(app.test_client()).sign_in(ALICE, ALICE_PASSWORD)
    assert answer.status_code == 200 and UNAVAILABLE in page_text(answer)
    assert count_users(app) == 0
    assert retry_after(app, ALICE) == 0
    walker = SignIn(app.test_client())  # Auth0 is back: the same user migrates
    walker.code_from(walker.sign_in(ALICE, ALICE_PASSWORD))
