"""The ``okta`` connector against a faithful fake of Okta's documented APIs (tests/peers/okta_fake.py).

Okta is SaaS and cannot run here: :class:`OktaFake` serves the Authentication API, the Users
API and a custom authorization server on loopback, with their documented answers and error
bodies. The failure modes no real Okta produces on demand come from a :class:`ScriptedIdp`.
"""

from __future__ import annotations

import json
import logging

import pytest

from connectors import (
    AccountBlocked,
    InvalidCredentials,
    LegacyUnavailable,
    MfaRequired,
    UserNotFound,
)
from models import LegacyLink, User, db
from settings.errors import ConfigError
from tests.accounts import count_users
from tests.conftest import SignIn, deployment
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
    log_text,
)
from tests.connectors.scripted_idp import TLS_HANDSHAKE, Reply, ScriptedIdp, closed_port_url
from tests.peers.okta_fake import OktaFake, totp, wrong_totp
from users.mapping import map_claims

ALICE, ALICE_PASSWORD = "alice@example.com", "wonderland-1865"
HATTER, HATTER_PASSWORD = "hatter@example.com", "tea-party-1865"  # TOTP (and push) factors
QUEEN, QUEEN_PASSWORD = "queen@example.com", "off-with-1865"  # an SMS factor
CHESHIRE, CHESHIRE_PASSWORD = "cheshire@example.com", "grin-only-1871"  # push and WebAuthn only
LORINA, LORINA_PASSWORD = "lorina@example.com", "locked-door-1852"  # LOCKED_OUT
EDITH, EDITH_PASSWORD = "edith@example.com", "expired-tea-1854"  # PASSWORD_EXPIRED
GRYPHON, GRYPHON_PASSWORD = "gryphon@example.com", "mock-turtle-1865"  # deactivated
LOCKED_NOTICE = "Your account is locked in our old sign-in system"
RESET_NOTICE = "You need to choose a new password before you can sign in"


@pytest.fixture
def okta():
    with OktaFake() as fake:
        yield fake


def okta_table(fake: OktaFake | ScriptedIdp, **settings) -> dict:
    url = fake.url if isinstance(fake, OktaFake) else fake.base_url
    return {"type": "okta", "org_url": url, "connect_timeout": 1, "read_timeout": 2, **settings}


def ropc_table(fake: OktaFake, **settings) -> dict:
    return okta_table(fake, **{"mode": "ropc", "client_id": fake.client_id,
                               "client_secret": fake.client_secret, **settings})


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


# -- the second factor ---------------------------------------------------------------------------
def mfa_challenge(connector, identifier=HATTER, password=HATTER_PASSWORD) -> MfaRequired:
    with pytest.raises(MfaRequired) as challenge:
        connector.verify(identifier, password)
    return challenge.value


def test_totp_mfa_is_finished_with_the_users_code(app, okta, caplog):
    caplog.set_level(logging.DEBUG)
    connector = build_connector(app, okta_table(okta))
    challenge = mfa_challenge(connector)
    assert challenge.factor == "totp"  # preferred over the push factor listed first
    assert json.loads(json.dumps(challenge.state)) == challenge.state
    assert challenge.state["verify_url"] == f"{okta.url}/api/v1/authn/factors/ostftotp0HATTER/verify"

    code = totp(okta.totp_secret(HATTER))
    identity = connector.finish_mfa(challenge.state, code)

    assert identity.subject == okta.user(HATTER).id
    [verify] = okta.calls("/api/v1/authn/factors/ostftotp0HATTER/verify")
    assert verify["json"] == {"stateToken": challenge.state["state_token"], "passCode": code}
    logged = log_text(caplog.records)
    for secret in (HATTER_PASSWORD, code, challenge.state["state_token"]):
        assert secret not in logged


def test_a_wrong_or_replayed_code_asks_again(app, okta):
    connector = build_connector(app, okta_table(okta))
    secret = okta.totp_secret(HATTER)
    challenge = mfa_challenge(connector)
    with pytest.raises(InvalidCredentials):
        connector.complete_mfa(challenge.state, wrong_totp(secret))
    code = totp(secret)
    assert connector.complete_mfa(challenge.state, code).subject == okta.user(HATTER).id

    again = mfa_challenge(connector)
    with pytest.raises(InvalidCredentials):  # "Each code can only be used once"
        connector.complete_mfa(again.state, code)


def test_an_expired_or_finished_transaction_is_unavailable(app, okta):
    connector = build_connector(app, okta_table(okta))
    challenge = mfa_challenge(connector)
    okta.expire_transactions()
    with pytest.raises(LegacyUnavailable) as expired:
        connector.complete_mfa(challenge.state, totp(okta.totp_secret(HATTER)))
    assert "E0000011" in expired.value.reason


def test_sms_mfa_has_okta_send_the_code_first(app, okta):
    connector = build_connector(app, okta_table(okta))
    challenge = mfa_challenge(connector, QUEEN, QUEEN_PASSWORD)
    assert challenge.factor == "sms"
    sent = okta.outbox[QUEEN]
    assert okta.calls("/api/v1/authn/factors/smsfactor0QUEEN/verify")[0]["json"] == {
        "stateToken": challenge.state["state_token"]}  # no passCode: "send me a code"

    with pytest.raises(InvalidCredentials):
        connector.complete_mfa(challenge.state, f"{(int(sent) + 1) % 1_000_000:06d}")
    assert connector.complete_mfa(challenge.state, sent).subject == okta.user(QUEEN).id


def mfa_answer(verify_href: str) -> Reply:
    return Reply(200, {"stateToken": "00state", "status": "MFA_REQUIRED", "_embedded": {
        "user": {"id": "00umfa", "profile": {"login": HATTER}},
        "factors": [{"id": "ostf1", "factorType": "token:software:totp", "provider": "GOOGLE",
                     "_links": {"verify": {"href": verify_href}}}]}})


def test_a_verify_link_to_another_host_is_never_followed(app, scripted_idp):
    with ScriptedIdp() as elsewhere:
        scripted_idp.routes["/api/v1/authn"] = mfa_answer(
            elsewhere.url("/api/v1/authn/factors/ostf1/verify"))
        connector = build_connector(app, okta_table(scripted_idp))
        with pytest.raises(LegacyUnavailable) as down:
            connector.verify(HATTER, HATTER_PASSWORD)
        assert "verify link" in down.value.reason

        forged = {"state_token": "00state",
                  "verify_url": elsewhere.url("/api/v1/authn/factors/ostf1/verify")}
        with pytest.raises(LegacyUnavailable):
            connector.complete_mfa(forged, "123456")
        assert elsewhere.requests == []


@pytest.mark.parametrize(("url", "accepted"), [
    ("https://acme.okta.com/api/v1/authn/factors/ostf1/verify", True),
    ("https://acme.okta.com:443/api/v1/authn/factors/ostf1/verify", True),
    ("https://ACME.okta.com/api/v1/authn/factors/ostf1/verify", True),
    ("http://acme.okta.com/api/v1/authn/factors/ostf1/verify", False),
    ("https://acme.okta.com:8443/api/v1/authn/factors/ostf1/verify", False),
    ("https://acme.okta.com.evil.example/api/v1/authn/factors/ostf1/verify", False),
    ("https://user@acme.okta.com/api/v1/authn/factors/ostf1/verify", False),
    ("https://acme.okta.com/api/v1/authn/factors/../../users/me/verify", False),
    ("https://acme.okta.com/api/v1/users/00u1/factors/ostf1/verify", False),
    ("https://acme.okta.com/api/v1/authn/factors/ostf1/verify?next=x", False),
    ("https://acme.okta.com:99999/api/v1/authn/factors/ostf1/verify", False),
])
def test_which_verify_links_count_as_the_org(app, url, accepted):
    connector = build_connector(app, {"type": "okta", "org_url": "https://acme.okta.com"})
    assert connector._on_org(url) is accepted


@pytest.mark.parametrize(("reply", "outcome", "reason"), [
    pytest.param(Reply(403, {"errorCode": "E0000068", "errorSummary": "Invalid Passcode/Answer"}),
                 InvalidCredentials, None, id="E0000068-wrong-code"),
    pytest.param(Reply(200, {"status": "MFA_CHALLENGE", "factorResult": "PASSCODE_REPLAYED"}),
                 InvalidCredentials, None, id="passcode-replayed"),
    pytest.param(Reply(403, {"errorCode": "E0000069", "errorSummary": "User Locked"}),
                 AccountBlocked, "locked", id="E0000069-locked-during-mfa"),
    pytest.param(Reply(200, {"status": "LOCKED_OUT"}), AccountBlocked, "locked",
                 id="locked-out-after-mfa"),
    pytest.param(Reply(200, {"status": "PASSWORD_EXPIRED", "stateToken": "00s"}), AccountBlocked,
                 "password_expired", id="password-expired-after-mfa"),
    pytest.param(Reply(200, {"status": "MFA_REQUIRED", "stateToken": "00s"}), LegacyUnavailable,
                 "MFA_REQUIRED", id="another-factor-after-mfa"),
    pytest.param(Reply(401, {"errorCode": "E0000011", "errorSummary": "Invalid token provided"}),
                 LegacyUnavailable, "E0000011", id="E0000011-expired"),
    pytest.param(Reply(500, "<html>oops</html>", "text/html"), LegacyUnavailable, "500", id="500"),
    pytest.param(Reply(200, "<html>Sign in</html>", "text/html"), LegacyUnavailable, "not JSON",
                 id="html"),
    pytest.param(Reply(200, {"status": "SUCCESS"}), LegacyUnavailable, "_embedded.user",
                 id="success-without-user"),
    pytest.param(Reply(429, {"errorCode": "E0000047"}), LegacyUnavailable, "429", id="429"),
])
def test_how_the_factor_answer_is_read(app, scripted_idp, reply, outcome, reason):
    href = scripted_idp.url("/api/v1/authn/factors/ostf1/verify")
    scripted_idp.routes["/api/v1/authn"] = mfa_answer(href)
    scripted_idp.routes["/api/v1/authn/factors/ostf1/verify"] = reply
    connector = build_connector(app, okta_table(scripted_idp))
    challenge = mfa_challenge(connector)

    with pytest.raises(outcome) as raised:
        connector.complete_mfa(challenge.state, "123456")
    if reason:
        assert reason in raised.value.reason


def test_per_user_answers_never_open_the_circuit_breaker(app, okta):
    connector = build_connector(app, okta_table(okta, breaker_failures=1))
    challenge = mfa_challenge(connector)
    okta.expire_transactions()
    with pytest.raises(LegacyUnavailable):
        connector.finish_mfa(challenge.state, totp(okta.totp_secret(HATTER)))
    ropc = build_connector(app, ropc_table(okta, breaker_failures=1))
    with pytest.raises(LegacyUnavailable):
        ropc.check_password(HATTER, HATTER_PASSWORD)  # a policy wants MFA for this user
    assert connector.guard.state == ropc.guard.state == "closed"
    assert connector.check_password(ALICE, ALICE_PASSWORD).subject == okta.user(ALICE).id

    okta.rate_limited = True  # Okta's own rate limit is an outage: the breaker opens
    with pytest.raises(LegacyUnavailable):
        connector.check_password(ALICE, ALICE_PASSWORD)
    assert connector.guard.state == "open"


def test_a_failing_sms_send_is_unavailable(app, scripted_idp):
    href = scripted_idp.url("/api/v1/authn/factors/sms1/verify")
    scripted_idp.routes["/api/v1/authn"] = Reply(200, {"stateToken": "00s", "status": "MFA_REQUIRED",
        "_embedded": {"factors": [{"id": "sms1", "factorType": "sms",
                                   "_links": {"verify": {"href": href}}}]}})
    scripted_idp.routes["/api/v1/authn/factors/sms1/verify"] = Reply(
        429, {"errorCode": "E0000109", "errorSummary": "An SMS message was recently sent."})
    with pytest.raises(LegacyUnavailable):
        build_connector(app, okta_table(scripted_idp)).verify(QUEEN, QUEEN_PASSWORD)


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


# -- settings ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("settings", "message"), [
    ({"org_url": "http://acme.okta.com"}, "must use https"),
    ({"org_url": "acme.okta.com"}, "https URL"),
    ({"org_url": "https://acme.okta.com/oauth2/default"}, "no path"),
    ({"org_url": "https://acme-admin.okta.com"}, "admin console"),
    ({"mode": "ropc"}, "needs client_id"),
    ({"client_id": "0oa1"}, 'only with mode = "ropc"'),
    ({"mode": "ropc", "client_id": "0oa1", "authorization_server_id": "../v1"}, "pattern"),
    ({"mode": "saml"}, "mode"),
    ({"api_key": "x"}, "unknown setting"),
])
def test_settings_are_checked_at_start_up(app, settings, message):
    with pytest.raises(ConfigError) as invalid:
        build_connector(app, {"type": "okta", "org_url": "https://acme.okta.com", **settings})
    assert message in str(invalid.value)


def test_the_org_url_is_normalised(app):
    connector = build_connector(app, {"type": "okta", "org_url": "https://Acme.Okta.com/"})
    assert connector.settings.org_url == "https://acme.okta.com"


# -- when Okta misbehaves ------------------------------------------------------------------------
SUCCESS_USER = {"id": "00u1", "profile": {"login": ALICE}}
FAILURES = {
    "html-200": (Reply(200, "<html><body>Sign in</body></html>", "text/html"), "not JSON"),
    "500": (Reply(500, {"errorCode": "E0000009", "errorSummary": "Internal Server Error"}), "500"),
    "502-html": (Reply(502, "<h1>Bad Gateway</h1>", "text/html"), "502"),
    "429-rate-limit": (Reply(429, {"errorCode": "E0000047"}, headers={"X-Rate-Limit-Remaining": "0"}),
                       "429"),
    "302-to-a-login-page": (Reply(302, "", "text/html", headers={"Location": "/login"}), "302"),
    "json-list": (Reply(200, [{"status": "SUCCESS"}]), "not an object"),
    "invalid-json": (Reply(200, '{"status": "SUCCESS",'), "not JSON"),
    "success-without-embedded": (Reply(200, {"status": "SUCCESS", "sessionToken": "s"}), "_embedded"),
    "success-user-without-id": (Reply(200, {"status": "SUCCESS", "_embedded": {"user": {
        "profile": {"login": ALICE}}}}), "_embedded.user"),
    "success-profile-not-an-object": (Reply(200, {"status": "SUCCESS", "_embedded": {"user": {
        "id": "00u1", "profile": "alice"}}}), "_embedded.user"),
    "unknown-status": (Reply(200, {"status": "UNAUTHENTICATED"}), "UNAUTHENTICATED"),
    "no-status": (Reply(200, {"_embedded": {"user": SUCCESS_USER}}), "None"),
    "mfa-without-state-token": (Reply(200, {"status": "MFA_REQUIRED", "_embedded": {
        "factors": []}}), "stateToken"),
    "mfa-factors-not-a-list": (Reply(200, {"status": "MFA_REQUIRED", "stateToken": "00s",
                                           "_embedded": {"factors": {"id": "x"}}}), "factors"),
    "mfa-totp-without-verify-link": (Reply(200, {"status": "MFA_REQUIRED", "stateToken": "00s",
        "_embedded": {"factors": [{"factorType": "token:software:totp"}]}}), "verify link"),
    "400-E0000001": (Reply(400, {"errorCode": "E0000001", "errorSummary": "Api validation failed"}),
                     "E0000001"),
    "403-E0000006": (Reply(403, {"errorCode": "E0000006", "errorSummary": "You do not have "
                                 "permission to perform the requested action"}), "E0000006"),
    "401-E0000011": (Reply(401, {"errorCode": "E0000011", "errorSummary": "Invalid token provided"}),
                     "E0000011"),
    "401-without-error-code": (Reply(401, {"message": "Unauthorized"}), "401"),
    "hang": (Reply(hang=True), "timed out"),
}


@pytest.mark.parametrize("name", list(FAILURES))
def test_a_misbehaving_okta_is_unavailable(app, scripted_idp, name, caplog):
    reply, reason = FAILURES[name]
    scripted_idp.routes["/api/v1/authn"] = reply
    connector = build_connector(app, okta_table(scripted_idp, read_timeout=0.5))
    with pytest.raises(LegacyUnavailable) as down:
        connector.check_password(ALICE, ALICE_PASSWORD)
    assert reason in down.value.reason
    assert len(scripted_idp.calls("/api/v1/authn")) == 1
    assert ALICE_PASSWORD not in log_text(caplog.records)


def test_connection_refused_and_tls_failure_are_unavailable(app, scripted_idp):
    refused = build_connector(app, okta_table(scripted_idp, org_url=closed_port_url("")))
    with pytest.raises(LegacyUnavailable) as down:
        refused.verify(ALICE, ALICE_PASSWORD)
    assert "connect" in down.value.reason

    tls = build_connector(app, okta_table(scripted_idp, org_url=scripted_idp.base_url.replace(
        "http:", "https:")))
    with pytest.raises(LegacyUnavailable) as down:
        tls.verify(ALICE, ALICE_PASSWORD)
    assert "TLS" in down.value.reason
    assert scripted_idp.calls(TLS_HANDSHAKE)


# -- the whole sign-in ---------------------------------------------------------------------------
def okta_app(make_app, fake: OktaFake, **settings):
    return make_app(DEPLOYMENT=deployment({"corp-okta": okta_table(fake, **settings)}))


def migrated(app, email: str) -> tuple[User, LegacyLink]:
    with app.app_context(), db.connection_context():
        user = User.get(User.email == email)
        return user, LegacyLink.get(LegacyLink.user == user)


@pytest.mark.parametrize("mode", ["authn", "ropc"])
def test_a_user_migrates_from_okta(make_app, okta, mode):
    settings = {"mode": "ropc", "client_id": okta.client_id,
                "client_secret": okta.client_secret} if mode == "ropc" else {}
    app = okta_app(make_app, okta, **settings)
    walker = SignIn(app.test_client())

    walker.code_from(walker.sign_in(ALICE, ALICE_PASSWORD))

    user, link = migrated(app, ALICE)
    assert (user.given_name, user.family_name) == ("Alice", "Liddell")
    assert (link.connector, link.subject) == ("corp-okta", okta.user(ALICE).id)


def test_okta_mfa_in_the_journey_creates_the_user_only_after_the_right_code(make_app, okta):
    app = okta_app(make_app, okta)
    walker = SignIn(app.test_client())
    secret = okta.totp_secret(HATTER)

    asked = walker.sign_in(HATTER, HATTER_PASSWORD)
    assert asked.status_code == 200 and "Verification code" in page_text(asked)
    assert count_users(app) == 0

    wrong = walker.post(code=wrong_totp(secret))
    assert wrong.status_code == 200 and "That code is not right" in page_text(wrong)
    assert "Verification code" in page_text(wrong)
    assert count_users(app) == 0

    walker.code_from(walker.post(code=totp(secret)))
    user, link = migrated(app, HATTER)
    assert link.subject == okta.user(HATTER).id
    # The password typed before the code page was kept (hashed): the next sign-in is local.
    okta.stop()
    again = SignIn(app.test_client())
    again.code_from(again.sign_in(HATTER, HATTER_PASSWORD))


def test_an_expired_okta_transaction_sends_the_user_to_try_later(make_app, okta):
    app = okta_app(make_app, okta)
    walker = SignIn(app.test_client())
    walker.sign_in(HATTER, HATTER_PASSWORD)
    okta.expire_transactions()

    answer = walker.post(code=totp(okta.totp_secret(HATTER)))

    assert answer.status_code == 200 and UNAVAILABLE in page_text(answer)
    assert count_users(app) == 0


def test_okta_locking_the_user_during_mfa_shows_the_locked_message(make_app, scripted_idp):
    scripted_idp.routes["/api/v1/authn"] = mfa_answer(
        scripted_idp.url("/api/v1/authn/factors/ostf1/verify"))
    scripted_idp.routes["/api/v1/authn/factors/ostf1/verify"] = Reply(
        403, {"errorCode": "E0000069", "errorSummary": "User Locked", "errorCauses": []})
    app = make_app(DEPLOYMENT=deployment({"corp-okta": okta_table(scripted_idp)}))
    walker = SignIn(app.test_client())
    walker.sign_in(HATTER, HATTER_PASSWORD)

    answer = walker.post(code="123456")

    assert answer.status_code == 200 and LOCKED_NOTICE in page_text(answer)
    assert count_users(app) == 0


@pytest.mark.parametrize(("identifier", "password", "notice"), [
    pytest.param(LORINA, LORINA_PASSWORD, LOCKED_NOTICE, id="locked-out"),
    pytest.param(CHESHIRE, CHESHIRE_PASSWORD, RESET_NOTICE, id="push-only-mfa"),
    pytest.param(ALICE, "not-her-password", WRONG_CREDENTIALS, id="wrong-password"),
])
def test_a_refused_sign_in_shows_why_and_creates_nobody(make_app, okta, identifier, password, notice):
    app = okta_app(make_app, okta)
    answer = SignIn(app.test_client()).sign_in(identifier, password)
    assert answer.status_code == 200 and notice in page_text(answer)
    assert count_users(app) == 0


def test_okta_rate_limiting_ferry_is_never_the_users_fault(make_app, okta):
    app = make_app(DEPLOYMENT=deployment({"corp-okta": okta_table(okta)}),
                   FAILED_SIGNINS_PER_IDENTIFIER="2 per 15 minutes")
    okta.rate_limited = True

    answers = sign_in_attempts(app, ALICE, ALICE_PASSWORD, times=3)

    assert all(a.status_code == 200 and UNAVAILABLE in page_text(a) for a in answers)
    assert count_users(app) == 0
    assert retry_after(app, ALICE) == 0
