"""The ``cognito`` connector against a real Cognito user pool API: moto's server on loopback, which
answers like Cognito for the password, unknown, disabled, unconfirmed and temporary-password users
and for TOTP and SMS MFA (see ``tests/peers/cognito.py``); the contract, the answers, MFA and the
whole sign-in."""

from __future__ import annotations

import json

import pytest

from connectors import (
    AccountBlocked,
    InvalidCredentials,
    LegacyUnavailable,
    MfaRequired,
    UserNotFound,
)
from tests.accounts import count_users
from tests.conftest import SignIn, deployment
from tests.connectors.cognito.moto_pool import (
    ALICE,
    BOB,
    CODE_PAGE,
    DAVE,
    DISABLED,
    FRED,
    NEW_PASSWORD,
    PASSWORDS,
    SAM,
    TINA,
    UMA,
    WRONG_CODE,
    cognito_connector,
    migrated,
)
from tests.connectors.conftest import (
    UNAVAILABLE,
    WRONG_CREDENTIALS,
    page_text,
    retry_after,
    sign_in_attempts,
)
from tests.connectors.contract import (
    ContractCase,
    PasswordConnectorContract,
    build_connector,
)
from tests.connectors.scripted_idp import closed_port_url


class TestCognitoContract(PasswordConnectorContract):
    @pytest.fixture
    def contract_case(self, connector, cognito, pool):
        return ContractCase(
            connector=connector, identifier=ALICE, password=PASSWORDS[ALICE],
            wrong_password=PASSWORDS[ALICE] + "x", unknown_identifier="nobody@example.com",
            expected_email=ALICE, outage=cognito.frozen, secrets=(pool.client_secret,),
        )


# -- against moto: the answers Cognito gives -------------------------------------------------
def test_the_subject_is_the_sub_attribute_and_the_claims_are_the_attributes(connector, pool):
    alice = connector.verify(ALICE, PASSWORDS[ALICE])
    bob = connector.verify(BOB, PASSWORDS[BOB])

    assert alice.subject == pool.subs[ALICE] and bob.subject == pool.subs[BOB]
    assert alice.subject != bob.subject
    assert alice.claims == {
        "sub": pool.subs[ALICE], "email": "Alice@Example.com", "email_verified": "true",
        "given_name": "Alice", "family_name": "Liddell", "custom:employee_id": "E-42",
        "cognito:username": ALICE,
    }


def test_an_unknown_user_is_user_not_found(connector):
    with pytest.raises(UserNotFound):
        connector.verify("nobody@example.com", "Whatever-1!")


@pytest.mark.parametrize(("username", "reason"), [
    pytest.param(DAVE, "disabled", id="disabled"),
    pytest.param(UMA, "disabled", id="unconfirmed-sign-up"),
    pytest.param(FRED, "password_change_required", id="temporary-password"),
])
def test_accounts_that_cannot_sign_in_at_cognito_are_blocked(connector, username, reason):
    with pytest.raises(AccountBlocked) as blocked:
        connector.verify(username, PASSWORDS[username])  # their real password
    assert blocked.value.reason == reason


def test_a_disabled_account_with_a_wrong_password_is_still_blocked(connector):
    # moto says "User is disabled." before it looks at the password, so the "disabled" notice
    # shows whatever password was typed (it tells anyone that the account exists and is off).
    with pytest.raises(AccountBlocked):
        connector.verify(DAVE, "not-daves-password")


def test_an_app_client_without_a_secret_sends_no_secret_hash(app, cognito, pool):
    client_id, secret = pool.app_client(secret=False)
    assert secret is None
    connector = build_connector(app, cognito_connector(cognito, pool, client_id=client_id,
                                                       client_secret=None))
    assert connector.verify(ALICE, PASSWORDS[ALICE]).subject == pool.subs[ALICE]
    with pytest.raises(InvalidCredentials):
        connector.verify(ALICE, "wrong")


def test_a_client_of_another_pool_is_ferrys_misconfiguration(app, cognito, pool):
    other = cognito.pool()
    other.user(ALICE, PASSWORDS[ALICE])
    table = cognito_connector(cognito, pool, client_id=other.client_id,
                              client_secret=other.client_secret)  # user_pool_id stays pool's
    with pytest.raises(LegacyUnavailable) as wrong:
        build_connector(app, table).verify(ALICE, PASSWORDS[ALICE])
    assert "another user pool" in wrong.value.reason and other.id in wrong.value.reason


def test_nobody_listening_is_unavailable(app, cognito, pool):
    table = cognito_connector(cognito, pool, endpoint_url=closed_port_url("/"))
    with pytest.raises(LegacyUnavailable) as down:
        build_connector(app, table).verify(ALICE, PASSWORDS[ALICE])
    assert "could not connect" in down.value.reason


def test_a_hanging_pool_times_out(connector, cognito):
    with cognito.frozen(), pytest.raises(LegacyUnavailable) as hung:
        connector.verify(ALICE, PASSWORDS[ALICE])
    assert "timed out" in hung.value.reason


# -- against moto: MFA ---------------------------------------------------------------------
def test_totp_mfa_is_asked_for_and_finished_with_the_code(connector, pool):
    with pytest.raises(MfaRequired) as challenge:
        connector.verify(TINA, PASSWORDS[TINA])
    assert challenge.value.factor == "totp"
    state = json.loads(json.dumps(challenge.value.state))  # as the journey run stores it
    assert state["challenge"] == "SOFTWARE_TOKEN_MFA" and state["username"] == TINA

    with pytest.raises(InvalidCredentials):
        connector.complete_mfa(state, pool.totp_code(offset_steps=10))  # not this step's code
    identity = connector.complete_mfa(state, pool.totp_code())  # the session outlives a typo

    assert identity.subject == pool.subs[TINA] and identity.claims["given_name"] == "Tina"
    with pytest.raises(LegacyUnavailable) as spent:  # one session, one sign-in
        connector.complete_mfa(state, pool.totp_code())
    assert "session" in spent.value.reason


def test_a_made_up_mfa_session_is_unavailable_not_a_wrong_code(connector, pool):
    state = {"session": "not-a-session", "username": TINA, "challenge": "SOFTWARE_TOKEN_MFA"}
    with pytest.raises(LegacyUnavailable):
        connector.complete_mfa(state, pool.totp_code())
    with pytest.raises(LegacyUnavailable):
        connector.complete_mfa({"username": TINA}, "123456")


def test_sms_mfa_sends_the_code_and_the_secret_hash_moto_checks(app, cognito, pool):
    # moto accepts any SMS code, but it checks SMS_MFA_CODE is there and the SECRET_HASH.
    connector = build_connector(app, cognito_connector(cognito, pool))
    with pytest.raises(MfaRequired) as challenge:
        connector.verify(SAM, PASSWORDS[SAM])
    assert challenge.value.factor == "sms"
    assert connector.complete_mfa(challenge.value.state, "123456").subject == pool.subs[SAM]

    # moto checks no SECRET_HASH on InitiateAuth (AWS does), so a wrong client secret shows
    # only here; it proves the hash above was the one the pool expects.
    wrong = build_connector(app, cognito_connector(cognito, pool, client_secret="not-the-secret"))
    with pytest.raises(MfaRequired) as challenge:
        wrong.verify(SAM, PASSWORDS[SAM])
    with pytest.raises(LegacyUnavailable) as refused:
        wrong.complete_mfa(challenge.value.state, "123456")
    assert "NotAuthorizedException" in refused.value.reason


# -- the whole sign-in, against moto --------------------------------------------------------
def test_a_cognito_user_migrates_with_the_mapped_profile(make_app, cognito, pool):
    mapping = {"email": "email", "email_verified": "email_verified|bool",
               "given_name": "given_name", "family_name": "family_name",
               "employee_id": "custom:employee_id"}
    app = make_app(DEPLOYMENT=deployment({"legacy": cognito_connector(cognito, pool,
                                                                      mapping=mapping)}))
    walker = SignIn(app.test_client())

    walker.code_from(walker.sign_in(ALICE, PASSWORDS[ALICE]))

    user, link, credential = migrated(app, ALICE)
    assert (user.given_name, user.family_name, user.email_verified) == ("Alice", "Liddell", True)
    assert user.attributes == {"employee_id": "E-42"}
    assert (link.connector, link.subject) == ("legacy", pool.subs[ALICE])
    assert credential is not None and PASSWORDS[ALICE] not in credential.hash
    # From now on Ferry alone signs her in: with Cognito hanging, it still works.
    with cognito.frozen():
        again = SignIn(app.test_client())
        again.code_from(again.sign_in(ALICE, PASSWORDS[ALICE]))


@pytest.mark.parametrize(("username", "password", "notice"), [
    pytest.param(ALICE, "not-alices-password", WRONG_CREDENTIALS, id="wrong-password"),
    pytest.param("nobody@example.com", "Whatever-1!", WRONG_CREDENTIALS, id="unknown-user"),
    pytest.param(DAVE, PASSWORDS[DAVE], DISABLED, id="disabled"),
    pytest.param(FRED, PASSWORDS[FRED], NEW_PASSWORD, id="temporary-password"),
])
def test_a_refused_sign_in_creates_no_user(ferry, username, password, notice):
    [answer] = sign_in_attempts(ferry, username, password, times=1)
    assert answer.status_code == 200 and notice in page_text(answer)
    assert count_users(ferry) == 0


def test_while_cognito_hangs_users_are_told_to_try_later_and_nothing_is_counted(ferry, cognito):
    with cognito.frozen():
        answers = sign_in_attempts(ferry, ALICE, PASSWORDS[ALICE], times=3)
    assert all(a.status_code == 200 and UNAVAILABLE in page_text(a) for a in answers)
    assert count_users(ferry) == 0
    assert retry_after(ferry, ALICE) == 0


def test_a_totp_user_migrates_only_after_the_code(ferry, pool):
    walker = SignIn(ferry.test_client())

    asked = walker.sign_in(TINA, PASSWORDS[TINA])
    assert asked.status_code == 200 and CODE_PAGE in page_text(asked)
    assert count_users(ferry) == 0  # not on the password alone

    typo = walker.post(code=pool.totp_code(offset_steps=-10))
    assert typo.status_code == 200 and WRONG_CODE in page_text(typo)
    assert count_users(ferry) == 0

    walker.code_from(walker.post(code=pool.totp_code()))
    user, link, credential = migrated(ferry, TINA)
    assert user.given_name == "Tina" and link.subject == pool.subs[TINA]
    assert credential is not None  # the password typed before the code was kept


def test_an_sms_user_is_asked_for_the_texted_code(ferry, pool):
    walker = SignIn(ferry.test_client())
    asked = walker.sign_in(SAM, PASSWORDS[SAM])
    assert "the code we sent to your phone" in page_text(asked)
    walker.code_from(walker.post(code="424242"))
    assert migrated(ferry, SAM)[1].subject == pool.subs[SAM]
