"""The ``okta`` connector's password check against a faithful fake of Okta's documented APIs
(tests/peers/okta_fake.py): the contract in both modes, primary authentication and the statuses that
block an account, the API token (full profile, unknown users, lookup) and the ropc mode."""

from __future__ import annotations

import logging

import pytest

from connectors import (
    AccountBlocked,
    InvalidCredentials,
    LegacyUnavailable,
    UserNotFound,
)
from tests.connectors.contract import (
    ContractCase,
    PasswordConnectorContract,
    build_connector,
    log_text,
)
from tests.connectors.okta.org import (
    ALICE,
    ALICE_PASSWORD,
    CHESHIRE,
    CHESHIRE_PASSWORD,
    EDITH,
    EDITH_PASSWORD,
    GRYPHON,
    GRYPHON_PASSWORD,
    HATTER,
    HATTER_PASSWORD,
    LORINA,
    LORINA_PASSWORD,
    okta_table,
    ropc_table,
)
from tests.connectors.scripted_idp import Reply
from users.mapping import map_claims


class TestOktaContract(PasswordConnectorContract):
    @pytest.fixture
    def contract_case(self, app, okta):
        return ContractCase(
            connector=build_connector(app, okta_table(okta, api_token=okta.api_token)),
            identifier=ALICE, password=ALICE_PASSWORD, wrong_password=ALICE_PASSWORD + "x",
            unknown_identifier="nobody@example.com", expected_email=ALICE,
            outage=okta.outage, secrets=(okta.api_token,),
        )


class TestOktaRopcContract(PasswordConnectorContract):
    @pytest.fixture
    def contract_case(self, app, okta):
        return ContractCase(
            connector=build_connector(app, ropc_table(okta)),
            identifier=ALICE, password=ALICE_PASSWORD, wrong_password=ALICE_PASSWORD + "x",
            unknown_identifier="nobody@example.com", expected_email=ALICE,
            outage=okta.outage, secrets=(okta.client_secret,),
        )


# -- primary authentication ---------------------------------------------------------------------
def test_what_primary_authentication_sends_and_reads(app, okta):
    identity = build_connector(app, okta_table(okta)).verify(ALICE, "wonderland-1865")

    [call] = okta.calls("/api/v1/authn")
    assert call["json"] == {"username": ALICE, "password": "wonderland-1865", "options": {
        "multiOptionalFactorEnroll": False, "warnBeforePasswordExpired": False}}
    assert call["headers"]["Accept"] == "application/json"
    assert "Authorization" not in call["headers"]  # a public call: no API token sent
    assert identity.subject == okta.user(ALICE).id
    assert map_claims(identity.claims, build_connector(app, okta_table(okta)).mapping) == {
        "email": ALICE, "given_name": "Alice", "family_name": "Liddell", "locale": "en-US"}
    assert identity.claims["zoneinfo"] == "Europe/London"


def test_both_modes_give_the_same_subject_so_switching_never_migrates_twice(app, okta):
    authn = build_connector(app, okta_table(okta)).verify(ALICE, ALICE_PASSWORD)
    ropc = build_connector(app, ropc_table(okta)).verify(ALICE, ALICE_PASSWORD)
    other = build_connector(app, okta_table(okta)).verify("o'hara+tea/party@example.com", "escaped-1865")
    assert authn.subject == ropc.subject == okta.user(ALICE).id
    assert other.subject != authn.subject


@pytest.mark.parametrize(("identifier", "password", "reason"), [
    pytest.param(LORINA, LORINA_PASSWORD, "locked", id="locked-out"),
    pytest.param(LORINA, "not-her-password", "locked", id="locked-out-any-password"),
    pytest.param(EDITH, EDITH_PASSWORD, "password_expired", id="password-expired"),
    pytest.param("dodo@example.com", "caucus-race-1865", "password_change_required", id="mfa-enroll"),
    pytest.param(CHESHIRE, CHESHIRE_PASSWORD, "password_change_required", id="push-and-webauthn-only"),
])
def test_statuses_that_block_the_account(app, okta, identifier, password, reason):
    with pytest.raises(AccountBlocked) as blocked:
        build_connector(app, okta_table(okta)).verify(identifier, password)
    assert blocked.value.reason == reason


def test_an_expired_password_is_only_reported_for_the_right_password(app, okta):
    with pytest.raises(InvalidCredentials) as refused:
        build_connector(app, okta_table(okta)).verify(EDITH, "a-guess")
    assert not isinstance(refused.value, AccountBlocked)


def test_a_deactivated_user_is_refused_like_a_wrong_password(app, okta):
    with pytest.raises(InvalidCredentials) as refused:
        build_connector(app, okta_table(okta)).verify(GRYPHON, GRYPHON_PASSWORD)
    assert type(refused.value) is InvalidCredentials


def test_push_only_mfa_tells_the_operator_which_factors_okta_wanted(app, okta, caplog):
    caplog.set_level(logging.WARNING)
    with pytest.raises(AccountBlocked):
        build_connector(app, okta_table(okta)).verify(CHESHIRE, CHESHIRE_PASSWORD)
    assert "push, webauthn" in caplog.text
    assert CHESHIRE_PASSWORD not in log_text(caplog.records)


def test_password_warn_is_never_asked_for_and_is_a_success_when_it_comes(app, okta, scripted_idp):
    warren = build_connector(app, okta_table(okta)).verify("warren@example.com", "warn-rabbit-1860")
    assert warren.subject == okta.user("warren@example.com").id  # options say: no warning

    scripted_idp.routes["/api/v1/authn"] = Reply(200, {
        "stateToken": "00st", "status": "PASSWORD_WARN",
        "_embedded": {"user": okta.user("warren@example.com").embedded()}})
    identity = build_connector(app, okta_table(scripted_idp)).verify("warren@example.com", "pw")
    assert identity.subject == okta.user("warren@example.com").id


def test_extra_fields_in_the_answer_are_ignored(app, okta, scripted_idp):
    user = {**okta.user(ALICE).embedded(), "recovery_question": {"question": "?"}, "new": [1]}
    scripted_idp.routes["/api/v1/authn"] = Reply(200, {
        "status": "SUCCESS", "sessionToken": "s", "relayState": None, "factorResult": "SUCCESS",
        "_embedded": {"user": user, "policy": {}}, "_links": {}, "somethingNew": {"a": 1}})
    identity = build_connector(app, okta_table(scripted_idp)).verify(ALICE, ALICE_PASSWORD)
    assert identity.subject == okta.user(ALICE).id


# -- the API token: full profile, unknown users, lookup -----------------------------------------
def test_the_api_token_reads_the_full_profile(app, okta):
    connector = build_connector(app, okta_table(okta, api_token=okta.api_token, mapping={
        "email": "email", "name": "name", "employee_number": "profile.employeeNumber"}))

    identity = connector.verify(ALICE, ALICE_PASSWORD)

    [read] = okta.calls(f"/api/v1/users/{okta.user(ALICE).id}")
    assert read["headers"]["Authorization"] == f"SSWS {okta.api_token}"
    assert identity.claims["status"] == "ACTIVE"
    assert map_claims(identity.claims, connector.mapping) == {
        "email": ALICE, "name": "Alice Liddell", "employee_number": "E-1865"}


def test_the_api_token_also_enriches_the_ropc_mode(app, okta):
    identity = build_connector(app, ropc_table(okta, api_token=okta.api_token)).verify(
        ALICE, ALICE_PASSWORD)
    assert identity.claims["profile"]["employeeNumber"] == "E-1865"
    assert identity.claims["email_verified"] is True  # userinfo's claims stay


def test_a_refused_api_token_is_ferrys_fault(app, okta):
    connector = build_connector(app, okta_table(okta, api_token="00-revoked-token"))
    with pytest.raises(LegacyUnavailable) as down:
        connector.verify(ALICE, ALICE_PASSWORD)
    assert "E0000011" in down.value.reason
    with pytest.raises(LegacyUnavailable):
        connector.lookup(ALICE)


def test_with_an_api_token_an_unknown_user_is_user_not_found(app, okta):
    with_token = build_connector(app, okta_table(okta, api_token=okta.api_token))
    without = build_connector(app, okta_table(okta))
    with pytest.raises(UserNotFound):
        with_token.verify("nobody@example.com", "whatever")
    with pytest.raises(InvalidCredentials) as refused:
        with_token.verify(ALICE, "wrong")
    assert type(refused.value) is InvalidCredentials  # the user exists: a wrong password
    with pytest.raises(InvalidCredentials) as unknown:
        without.verify("nobody@example.com", "whatever")
    assert type(unknown.value) is InvalidCredentials  # cannot tell without a token


def test_lookup(app, okta):
    connector = build_connector(app, okta_table(okta, api_token=okta.api_token))
    assert connector.supports_lookup

    alice = connector.find(ALICE)
    escaped = connector.lookup("o'hara+tea/party@example.com")

    assert alice.subject == okta.user(ALICE).id and alice.claims["email"] == ALICE
    assert escaped.subject == okta.user("o'hara+tea/party@example.com").id
    assert okta.requests[-1]["raw_path"] == "/api/v1/users/o%27hara%2Btea%2Fparty%40example.com"
    assert connector.lookup("nobody@example.com") is None
    with pytest.raises(AccountBlocked) as blocked:
        connector.lookup(GRYPHON)  # deactivated: never migrated on another proof
    assert blocked.value.reason == "disabled"


def test_lookup_needs_the_api_token(app, okta):
    connector = build_connector(app, okta_table(okta))
    assert not connector.supports_lookup
    with pytest.raises(LegacyUnavailable) as down:
        connector.lookup(ALICE)
    assert "api_token" in down.value.reason
    assert okta.requests == []


# -- ropc mode -----------------------------------------------------------------------------------
def test_ropc_mode_speaks_to_the_authorization_servers_token_endpoint(app, okta):
    build_connector(app, ropc_table(okta)).verify(ALICE, ALICE_PASSWORD)

    [token] = okta.calls("/oauth2/default/v1/token")
    assert token["form"] == {"grant_type": "password", "username": ALICE,
                             "password": ALICE_PASSWORD, "scope": "openid profile email"}
    assert token["headers"]["Authorization"].startswith("Basic ")
    assert [r["path"] for r in okta.requests] == [
        "/oauth2/default/v1/token", "/oauth2/default/v1/keys", "/oauth2/default/v1/userinfo"]
    assert okta.calls("/api/v1/authn") == []


@pytest.mark.parametrize(("settings", "identifier", "password", "reason"), [
    pytest.param({"authorization_server_id": "aus0nothere"}, ALICE, ALICE_PASSWORD, "E0000007",
                 id="unknown-authorization-server"),
    pytest.param({"client_secret": "not-the-secret"}, ALICE, ALICE_PASSWORD, "invalid_client",
                 id="wrong-client-secret"),
    pytest.param({}, HATTER, HATTER_PASSWORD, 'mode = "authn"', id="policy-wants-mfa"),
])
def test_ropc_mode_misconfiguration_is_unavailable(app, okta, settings, identifier, password, reason):
    with pytest.raises(LegacyUnavailable) as down:
        build_connector(app, ropc_table(okta, **settings)).verify(identifier, password)
    assert reason in down.value.reason


@pytest.mark.parametrize("identifier", [LORINA, GRYPHON])
def test_ropc_mode_refuses_locked_and_deactivated_users(app, okta, identifier):
    password = okta.user(identifier).password
    with pytest.raises(InvalidCredentials):
        build_connector(app, ropc_table(okta)).verify(identifier, password)
