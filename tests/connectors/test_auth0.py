"""The ``auth0`` connector against a faithful fake of Auth0's Authentication API.

Auth0 cannot run here; :mod:`tests.peers.auth0_fake` serves its documented ``/oauth/token``
(password-realm and mfa-otp grants), ``/userinfo`` and ``/mfa/authenticators`` on loopback,
with Auth0's error bodies and status codes.
"""

from __future__ import annotations

import json
import time

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
from tests.connectors.conftest import UNAVAILABLE, WRONG_CREDENTIALS, page_text, retry_after
from tests.connectors.contract import ContractCase, PasswordConnectorContract, build_connector
from tests.peers.auth0_fake import PASSWORD_REALM, Auth0Client, Auth0Fake, Fault, totp

ALICE, ALICE_PASSWORD = "alice@example.com", "wonderland-1865"
MALLORY, MALLORY_PASSWORD = "mallory@example.com", "second-factor-7"  # has an authenticator app
USER_IP, ATTACKER_IP = "203.0.113.7", "198.51.100.66"
LOCKED_NOTICE = "Your account is locked in our old sign-in system"


@pytest.fixture
def auth0():
    with Auth0Fake() as fake:
        yield fake


def auth0_table(fake: Auth0Fake, **settings) -> dict:
    table = {"type": "auth0", "base_url": fake.base_url, "client_id": fake.client.client_id,
             "client_secret": fake.client.client_secret, "connect_timeout": 0.5,
             "read_timeout": 0.5, **settings}
    return {key: value for key, value in table.items() if value is not None}


def ferry(make_app, fake: Auth0Fake, **settings):
    return make_app(DEPLOYMENT=deployment({"corp-auth0": auth0_table(fake, **settings)}),
                    FAILED_SIGNINS_PER_IDENTIFIER="5 per 15 minutes")


def other_code(fake: Auth0Fake, email: str) -> str:
    """A code that is certainly wrong now (not the code of this, the last or the next step)."""
    now = time.time()
    valid = {fake.code(email, at) for at in (now - 30, now, now + 30)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


class TestAuth0Contract(PasswordConnectorContract):
    @pytest.fixture
    def contract_case(self, app, auth0):
        return ContractCase(
            connector=build_connector(app, auth0_table(auth0)),
            identifier=ALICE, password=ALICE_PASSWORD, wrong_password="not-" + ALICE_PASSWORD,
            unknown_identifier="nobody@example.com", expected_email=ALICE,
            outage=auth0.stopped, secrets=(auth0.client.client_secret,),
        )


# -- what Ferry sends ------------------------------------------------------------------------
def test_the_password_realm_grant_carries_what_auth0_documents(app, auth0):
    connector = build_connector(app, auth0_table(
        auth0, realm="Username-Password-Authentication", audience="https://api.example.com"))

    identity = connector.verify(ALICE, ALICE_PASSWORD)

    [token] = auth0.calls("/oauth/token")
    assert token.form == {
        "grant_type": PASSWORD_REALM, "realm": "Username-Password-Authentication",
        "username": ALICE, "password": ALICE_PASSWORD, "scope": "openid profile email",
        "audience": "https://api.example.com",
        "client_id": auth0.client.client_id, "client_secret": auth0.client.client_secret,
    }
    assert "auth0-forwarded-for" not in {k.lower() for k in token.headers}
    [userinfo] = auth0.calls("/userinfo")
    assert userinfo.headers["Authorization"].startswith("Bearer ")
    assert identity.subject == "auth0|alice0001"
    assert identity.claims["given_name"] == "Alice"


def test_the_domain_builds_the_tenant_urls(app):
    connector = build_connector(app, {"type": "auth0", "domain": "Corp.EU.auth0.com",
                                      "client_id": "x", "client_secret": "y"})
    assert connector.settings.token_url == "https://corp.eu.auth0.com/oauth/token"
    assert connector.settings.userinfo_url == "https://corp.eu.auth0.com/userinfo"
    assert connector.settings.authenticators_url == "https://corp.eu.auth0.com/mfa/authenticators"


@pytest.mark.parametrize(("table", "problem"), [
    ({"domain": "https://corp.auth0.com"}, "domain"),
    ({"domain": "corp.auth0.com/oauth"}, "domain"),
    ({}, "set domain"),
    ({"domain": "corp.auth0.com", "client_secret": None}, "client_secret"),
    ({"domain": "corp.auth0.com", "client_auth": "none", "client_secret": None,
      "forward_user_ip": True}, "confidential"),
    ({"domain": "corp.auth0.com", "scope": "profile email"}, "openid"),
    ({"base_url": "ftp://corp.auth0.com"}, "http"),
    ({"domain": "corp.auth0.com", "token_url": "https://elsewhere/token"}, "unknown setting"),
])
def test_bad_settings_fail_at_start_up(app, table, problem):
    full = {"type": "auth0", "client_id": "x", "client_secret": "y", **table}
    full = {key: value for key, value in full.items() if value is not None}
    with pytest.raises(ConfigError) as invalid:
        build_connector(app, full)
    assert problem in str(invalid.value)


@pytest.mark.parametrize(("auth_method", "client_auth", "works"), [
    ("client_secret_basic", "basic", True),
    ("client_secret_basic", "post", False),
    ("client_secret_post", "basic", False),
    ("none", "none", True),
])
def test_client_authentication_methods(app, auth0, auth_method, client_auth, works):
    client = auth0.add_client(Auth0Client(f"app-{auth_method}", None if auth_method == "none"
                                          else "its-secret-0123456789", auth_method=auth_method))
    connector = build_connector(app, auth0_table(
        auth0, client_id=client.client_id, client_secret=client.client_secret or None,
        client_auth=client_auth))
    if works:
        assert connector.verify(ALICE, ALICE_PASSWORD).subject == "auth0|alice0001"
        with pytest.raises(InvalidCredentials):
            connector.verify(ALICE, "wrong")
    else:
        with pytest.raises(LegacyUnavailable) as refused:
            connector.verify(ALICE, ALICE_PASSWORD)
        assert "access_denied" in refused.value.reason


# -- how Auth0's answers map ---------------------------------------------------------------------
def test_wrong_password_and_unknown_user_are_the_same_invalid_credentials(app, auth0):
    connector = build_connector(app, auth0_table(auth0))
    for identifier in (ALICE, "nobody@example.com"):
        with pytest.raises(InvalidCredentials) as refused:
            connector.verify(identifier, "not-the-password")
        assert not isinstance(refused.value, UserNotFound)  # Auth0 does not tell them apart


@pytest.mark.parametrize(("identifier", "password", "reason"), [
    ("carol@example.com", "locked-out-42", "locked"),  # blocked by an administrator
    ("leaked@example.com", "password123", "password_change_required"),  # breached password
])
def test_blocked_accounts(app, auth0, identifier, password, reason):
    with pytest.raises(AccountBlocked) as blocked:
        build_connector(app, auth0_table(auth0)).verify(identifier, password)
    assert blocked.value.reason == reason


def test_the_older_unauthorized_user_is_blocked_answer_is_locked_too(app, auth0):
    auth0.faults["/oauth/token"] = Fault(
        401, json.dumps({"error": "unauthorized", "error_description": "user is blocked"}))
    with pytest.raises(AccountBlocked) as blocked:
        build_connector(app, auth0_table(auth0)).verify(ALICE, ALICE_PASSWORD)
    assert blocked.value.reason == "locked"


def test_brute_force_protection_blocks_even_the_right_password(app):
    with Auth0Fake(brute_force_limit=3) as fake:
        connector = build_connector(app, auth0_table(fake))
        for _ in range(3):
            with pytest.raises(InvalidCredentials):
                connector.verify(ALICE, "guess")
        with pytest.raises(AccountBlocked) as blocked:
            connector.verify(ALICE, ALICE_PASSWORD)
        assert blocked.value.reason == "locked"
        assert len(fake.calls("/oauth/token")) == 4


@pytest.mark.parametrize(("setup", "reason"), [
    (lambda fake: setattr(fake, "rate_limited", True), "rate limit"),
    (lambda fake: setattr(fake.client, "client_secret", "rotated-at-auth0"), "access_denied"),
    (lambda fake: fake.client.grant_types.discard(PASSWORD_REALM), "unauthorized_client"),
    (lambda fake: fake.audiences.clear(), "Service not found"),
    (lambda fake: fake.client.connections.clear(), "invalid_request"),
])
def test_ferrys_own_problems_at_auth0_are_unavailable(app, auth0, setup, reason):
    secret = auth0.client.client_secret
    connector = build_connector(app, auth0_table(auth0, audience="https://api.example.com"))
    setup(auth0)
    with pytest.raises(LegacyUnavailable) as unavailable:
        connector.verify(ALICE, ALICE_PASSWORD)
    assert reason in unavailable.value.reason
    assert secret not in unavailable.value.reason


# -- the legacy side misbehaving ---------------------------------------------------------------
TOKEN_OK = {"access_token": "at", "token_type": "Bearer", "expires_in": 86400}
FAILURES = {
    "token-500": ("/oauth/token", Fault(500, '{"error":"server_error"}'), "500"),
    "token-502-html": ("/oauth/token", Fault(502, "<h1>Bad gateway</h1>", "text/html"), "502"),
    "token-200-html": ("/oauth/token", Fault(200, "<html>Log in</html>", "text/html"), "not JSON"),
    "token-429-html": ("/oauth/token", Fault(429, "<h1>Slow down</h1>", "text/html"), "not JSON"),
    "token-without-access-token": ("/oauth/token", Fault(200, '{"token_type":"Bearer"}'),
                                   "access_token"),
    "token-hangs": ("/oauth/token", Fault(hang=True), "timed out"),
    "userinfo-500": ("/userinfo", Fault(500, "oops", "text/plain"), "userinfo answered 500"),
    "userinfo-without-sub": ("/userinfo", Fault(200, '{"email":"alice@example.com"}'), "'sub'"),
    "userinfo-list": ("/userinfo", Fault(200, '[{"sub":"auth0|alice0001"}]'), "not an object"),
}


@pytest.mark.parametrize("failure", list(FAILURES))
def test_a_misbehaving_auth0_is_unavailable(app, auth0, failure):
    path, fault, reason = FAILURES[failure]
    auth0.faults[path] = fault
    with pytest.raises(LegacyUnavailable) as unavailable:
        build_connector(app, auth0_table(auth0)).verify(ALICE, ALICE_PASSWORD)
    assert reason in unavailable.value.reason


def test_extra_fields_in_auth0_answers_are_ignored(app, auth0):
    auth0.faults["/userinfo"] = Fault(200, json.dumps({
        "sub": "auth0|alice0001", "email": ALICE, "https://corp.example/roles": ["admin"],
        "app_metadata": {"employee_id": "E-42"}}))
    identity = build_connector(app, auth0_table(
        auth0, mapping={"email": "email", "employee_id": "app_metadata.employee_id"},
    )).verify(ALICE, ALICE_PASSWORD)
    assert identity.claims["app_metadata"] == {"employee_id": "E-42"}


def test_a_tls_failure_is_unavailable(app, auth0):
    connector = build_connector(app, auth0_table(
        auth0, base_url=auth0.base_url.replace("http:", "https:")))
    with pytest.raises(LegacyUnavailable) as unavailable:
        connector.verify(ALICE, ALICE_PASSWORD)
    assert "TLS" in unavailable.value.reason


# -- forwarding the user's IP address ------------------------------------------------------------
@pytest.mark.parametrize(("forward", "in_request", "expected"), [
    (True, True, USER_IP), (False, True, None), (True, False, None)])
def test_the_user_ip_is_forwarded_only_when_configured(app, auth0, forward, in_request, expected):
    connector = build_connector(app, auth0_table(auth0, forward_user_ip=forward))
    if in_request:
        with app.test_request_context(environ_base={"REMOTE_ADDR": USER_IP}):
            connector.verify(ALICE, ALICE_PASSWORD)
    else:
        connector.verify(ALICE, ALICE_PASSWORD)
    [token] = auth0.calls("/oauth/token")
    assert token.headers.get("Auth0-Forwarded-For") == expected


@pytest.mark.parametrize("forward", [True, False])
def test_an_attacker_cannot_get_a_user_blocked_for_everybody(app, forward):
    """Auth0 blocks per user *and IP*: without forwarding, every Ferry user shares one IP."""
    with Auth0Fake(brute_force_limit=3) as fake:
        fake.client.trust_ip_header = True
        connector = build_connector(app, auth0_table(fake, forward_user_ip=forward))
        with app.test_request_context(environ_base={"REMOTE_ADDR": ATTACKER_IP}):
            for _ in range(3):
                with pytest.raises(InvalidCredentials):
                    connector.verify(ALICE, "guess")
        with app.test_request_context(environ_base={"REMOTE_ADDR": USER_IP}):
            if forward:
                assert connector.verify(ALICE, ALICE_PASSWORD).subject == "auth0|alice0001"
            else:
                with pytest.raises(AccountBlocked):
                    connector.verify(ALICE, ALICE_PASSWORD)


def test_the_ip_reaches_auth0_through_the_sign_in(make_app, auth0):
    app = ferry(make_app, auth0, forward_user_ip=True)
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = USER_IP
    walker = SignIn(client)
    walker.code_from(walker.sign_in(ALICE, ALICE_PASSWORD))
    [token] = auth0.calls("/oauth/token")
    assert token.headers["Auth0-Forwarded-For"] == USER_IP


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
