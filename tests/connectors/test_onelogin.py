"""The ``onelogin`` connector against a faithful fake of OneLogin's documented APIs
(tests/peers/onelogin_fake.py).

OneLogin is SaaS and cannot run here: :class:`OneLoginFake` serves the token endpoint, the
session login and Verify Factor APIs and the Users v2 API on loopback, with their documented
answers and error bodies. Answers no real OneLogin gives on demand (garbage, missing fields, an
error inside a 200) come from a :class:`ScriptedIdp`.
"""

from __future__ import annotations

import base64
import json
import logging

import pytest

from connectors import AccountBlocked, InvalidCredentials, LegacyUnavailable, MfaRequired, UserNotFound
from models import LegacyLink, User, db
from settings.errors import ConfigError
from tests.accounts import count_users
from tests.conftest import SignIn, deployment
from tests.connectors.conftest import UNAVAILABLE, WRONG_CREDENTIALS, page_text
from tests.connectors.contract import ContractCase, PasswordConnectorContract, build_connector, log_text
from tests.connectors.scripted_idp import ScriptedIdp
from tests.peers.okta_users import totp, wrong_totp
from tests.peers.onelogin_fake import OneLoginFake
from users.mapping import map_claims

ALICE, ALICE_PASSWORD = "alice@example.com", "wonderland-1865"
HATTER, HATTER_PASSWORD = "hatter@example.com", "tea-party-1865"  # Protect and Google Authenticator
QUEEN, QUEEN_PASSWORD = "queen@example.com", "off-with-1865"  # OneLogin SMS
CHESHIRE, CHESHIRE_PASSWORD = "cheshire@example.com", "grin-only-1871"  # Protect and Duo only
LORINA, LORINA_PASSWORD = "lorina@example.com", "locked-door-1852"  # status 3, locked
GRYPHON, GRYPHON_PASSWORD = "gryphon@example.com", "mock-turtle-1865"  # status 2, suspended
LOCKED_NOTICE = "Your account is locked in our old sign-in system"
RESET_NOTICE = "You need to choose a new password before you can sign in"


@pytest.fixture
def onelogin():
    with OneLoginFake() as fake:
        yield fake


def onelogin_table(fake: OneLoginFake | ScriptedIdp, users: bool = False, **settings) -> dict:
    if isinstance(fake, ScriptedIdp):
        table = {"base_url": fake.base_url, "client_id": "id", "client_secret": "secret"}
    else:
        table = {"base_url": fake.url, "client_id": fake.auth.client_id,
                 "client_secret": fake.auth.client_secret}
        if users:
            table |= {"users_client_id": fake.reader.client_id,
                      "users_client_secret": fake.reader.client_secret}
    return {"type": "onelogin", "subdomain": "acme", "connect_timeout": 1, "read_timeout": 2,
            **table, **settings}


class TestOneLoginContract(PasswordConnectorContract):
    @pytest.fixture
    def contract_case(self, app, onelogin):
        return ContractCase(
            connector=build_connector(app, onelogin_table(onelogin, users=True)),
            identifier=ALICE, password=ALICE_PASSWORD, wrong_password=ALICE_PASSWORD + "x",
            unknown_identifier="nobody@example.com", expected_email=ALICE,
            outage=onelogin.outage,
            secrets=(onelogin.auth.client_secret, onelogin.reader.client_secret),
        )


# -- the password --------------------------------------------------------------------------------
def test_what_the_login_sends_and_reads(app, onelogin):
    connector = build_connector(app, onelogin_table(onelogin))
    identity = connector.verify(ALICE, ALICE_PASSWORD)

    [token] = onelogin.calls("/auth/oauth2/v2/token")
    pair = f"{onelogin.auth.client_id}:{onelogin.auth.client_secret}".encode()
    assert token["headers"]["Authorization"] == "Basic " + base64.b64encode(pair).decode()
    assert token["json"] == {"grant_type": "client_credentials"}
    [login] = onelogin.calls("/api/1/login/auth")
    assert login["json"] == {"username_or_email": ALICE, "password": ALICE_PASSWORD,
                             "subdomain": "acme"}
    assert login["headers"]["Authorization"].startswith("bearer:")
    assert identity.subject == "40001865"
    assert map_claims(identity.claims, connector.mapping) == {
        "email": ALICE, "given_name": "Alice", "family_name": "Liddell", "name": "Alice Liddell"}


def test_the_access_token_is_kept_and_renewed_when_onelogin_refuses_it(app, onelogin):
    connector = build_connector(app, onelogin_table(onelogin))
    connector.verify(ALICE, ALICE_PASSWORD)
    connector.verify(ALICE, ALICE_PASSWORD)
    assert len(onelogin.calls("/auth/oauth2/v2/token")) == 1  # valid for 10 hours: kept

    onelogin.expire_tokens()  # OneLogin answers 401 "Authentication Failure" to the old one
    assert connector.verify(ALICE, ALICE_PASSWORD).subject == "40001865"
    assert len(onelogin.calls("/auth/oauth2/v2/token")) == 2
    assert len(onelogin.calls("/api/1/login/auth")) == 4  # the refused call, once more


@pytest.mark.parametrize("settings", [{"client_secret": "not-the-secret"},
                                      {"client_id": "unknown-client"}])
def test_refused_api_credentials_are_ferrys_fault(app, onelogin, settings, caplog):
    connector = build_connector(app, onelogin_table(onelogin, **settings))
    with pytest.raises(LegacyUnavailable) as down:
        connector.verify(ALICE, ALICE_PASSWORD)
    assert "client_id / client_secret" in down.value.reason
    assert onelogin.calls("/api/1/login/auth") == []
    assert "not-the-secret" not in log_text(caplog.records)


def test_a_credential_without_the_login_scope_is_unavailable(app, onelogin):
    table = onelogin_table(onelogin, client_id=onelogin.reader.client_id,
                           client_secret=onelogin.reader.client_secret)
    with pytest.raises(LegacyUnavailable) as down:
        build_connector(app, table).verify(ALICE, ALICE_PASSWORD)
    assert "scope" in down.value.reason


@pytest.mark.parametrize("identifier", [LORINA, GRYPHON, "edith@example.com"])
def test_locked_suspended_and_unactivated_users_are_refused(app, onelogin, identifier):
    password = onelogin.user(identifier).password
    with pytest.raises(InvalidCredentials) as refused:
        build_connector(app, onelogin_table(onelogin)).verify(identifier, password)
    assert type(refused.value) is InvalidCredentials  # never a yes; without users: cannot tell


def test_with_the_read_users_pair_unknown_and_locked_users_are_told_apart(app, onelogin):
    connector = build_connector(app, onelogin_table(onelogin, users=True))
    with pytest.raises(UserNotFound):
        connector.verify("nobody@example.com", "whatever")
    with pytest.raises(AccountBlocked) as blocked:
        connector.verify(LORINA, LORINA_PASSWORD)
    assert blocked.value.reason == "locked"
    with pytest.raises(InvalidCredentials) as refused:
        connector.verify(GRYPHON, GRYPHON_PASSWORD)  # suspended: a refusal like any other
    assert type(refused.value) is InvalidCredentials


def test_wrong_passwords_lock_the_account_at_onelogin(app, onelogin):
    connector = build_connector(app, onelogin_table(onelogin, users=True))
    for _ in range(2):  # the fake account's "Maximum invalid login attempts" is 3
        with pytest.raises(InvalidCredentials) as refused:
            connector.verify(ALICE, "a-guess")
        assert type(refused.value) is InvalidCredentials
    with pytest.raises(AccountBlocked):  # the third locks her, and the users API says so
        connector.verify(ALICE, "a-guess")
    with pytest.raises(AccountBlocked) as blocked:
        connector.verify(ALICE, ALICE_PASSWORD)  # locked, even with the right password
    assert blocked.value.reason == "locked"
    assert onelogin.user(ALICE).status == 3


def test_the_read_users_pair_adds_the_full_profile(app, onelogin):
    connector = build_connector(app, onelogin_table(onelogin, users=True, mapping={
        "email": "email", "phone": "phone_number", "employee_id": "custom_attributes.employee_id"}))
    identity = connector.verify(ALICE, ALICE_PASSWORD)
    [read] = onelogin.calls("/api/2/users/40001865")
    assert read["headers"]["Authorization"].startswith("bearer:")
    assert identity.claims["status"] == 1 and identity.claims["locale"] == "en"
    assert map_claims(identity.claims, connector.mapping) == {
        "email": ALICE, "phone": "+441632960001", "employee_id": "E-1865"}


# -- lookup --------------------------------------------------------------------------------------
def test_lookup(app, onelogin):
    connector = build_connector(app, onelogin_table(onelogin, users=True))
    assert connector.supports_lookup

    alice = connector.find(ALICE)
    assert alice.subject == "40001865" and alice.claims["email"] == ALICE
    assert onelogin.requests[-1]["query"] == {"email": ALICE}
    assert connector.lookup("hatter").subject == "40001867"  # a name without @: ?username=
    assert onelogin.requests[-1]["query"] == {"username": "hatter"}
    assert connector.lookup("nobody@example.com") is None
    with pytest.raises(AccountBlocked) as blocked:
        connector.lookup(GRYPHON)  # suspended: never migrated on another proof
    assert blocked.value.reason == "disabled"


def test_lookup_needs_the_read_users_pair(app, onelogin):
    connector = build_connector(app, onelogin_table(onelogin))
    assert not connector.supports_lookup
    with pytest.raises(LegacyUnavailable) as down:
        connector.lookup(ALICE)
    assert "users_client_id" in down.value.reason
    assert onelogin.requests == []


# -- the second factor ---------------------------------------------------------------------------
def mfa_challenge(connector, identifier=HATTER, password=HATTER_PASSWORD) -> MfaRequired:
    with pytest.raises(MfaRequired) as challenge:
        connector.verify(identifier, password)
    return challenge.value


def test_totp_mfa_is_finished_with_the_users_code(app, onelogin, caplog):
    caplog.set_level(logging.DEBUG)
    connector = build_connector(app, onelogin_table(onelogin))
    challenge = mfa_challenge(connector)
    assert challenge.factor == "totp"  # Google Authenticator, preferred over Protect listed first
    assert json.loads(json.dumps(challenge.state)) == challenge.state
    assert challenge.state["device_id"] == "902"

    secret = onelogin.totp_secret(HATTER)
    with pytest.raises(InvalidCredentials):
        connector.complete_mfa(challenge.state, wrong_totp(secret))
    code = totp(secret)
    identity = connector.finish_mfa(challenge.state, code)

    assert identity.subject == "40001867" and identity.claims["email"] == HATTER
    assert onelogin.calls("/api/1/login/verify_factor")[-1]["json"] == {
        "device_id": "902", "state_token": challenge.state["state_token"], "otp_token": code}
    with pytest.raises(LegacyUnavailable):  # the state token was good for one sign-in
        connector.complete_mfa(challenge.state, code)
    logged = log_text(caplog.records)
    for secret in (HATTER_PASSWORD, code, challenge.state["state_token"]):
        assert secret not in logged


def test_sms_mfa_has_onelogin_send_the_code_first(app, onelogin):
    connector = build_connector(app, onelogin_table(onelogin))
    challenge = mfa_challenge(connector, QUEEN, QUEEN_PASSWORD)
    assert challenge.factor == "sms"
    sent = onelogin.outbox[QUEEN]
    assert "otp_token" not in onelogin.calls("/api/1/login/verify_factor")[0]["json"]

    with pytest.raises(InvalidCredentials):
        connector.complete_mfa(challenge.state, f"{(int(sent) + 1) % 1_000_000:06d}")
    assert connector.complete_mfa(challenge.state, sent).subject == "40001868"


def test_an_expired_state_token_is_unavailable_but_not_an_outage(app, onelogin):
    connector = build_connector(app, onelogin_table(onelogin, breaker_failures=1))
    challenge = mfa_challenge(connector)
    onelogin.expire_transactions()
    with pytest.raises(LegacyUnavailable) as expired:
        connector.finish_mfa(challenge.state, totp(onelogin.totp_secret(HATTER)))
    assert not expired.value.outage and connector.guard.state == "closed"


def test_only_devices_ferry_cannot_ask_for_block_and_say_which(app, onelogin, caplog):
    caplog.set_level(logging.WARNING)
    with pytest.raises(AccountBlocked) as blocked:
        build_connector(app, onelogin_table(onelogin)).verify(CHESHIRE, CHESHIRE_PASSWORD)
    assert blocked.value.reason == "password_change_required"
    assert "Duo Security, OneLogin Protect" in caplog.text


def test_onelogins_rate_limit_opens_the_breaker(app, onelogin, caplog):
    connector = build_connector(app, onelogin_table(onelogin, breaker_failures=1))
    onelogin.rate_limited = True
    with pytest.raises(LegacyUnavailable) as down:
        connector.check_password(ALICE, ALICE_PASSWORD)
    assert "429" in down.value.reason and "limit 5000" in down.value.reason
    assert connector.guard.state == "open"


# -- settings ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("settings", "message"), [
    ({"base_url": "http://acme.onelogin.com"}, "must use https"),
    ({"base_url": "https://acme.onelogin.com/api/1"}, "no path"),
    ({"subdomain": "acme.example.com"}, "subdomain alone"),
    ({"users_client_id": "r"}, "go together"),
    ({"client_secret": ""}, "client_secret"),
    ({"api_token": "x"}, "unknown setting"),
])
def test_settings_are_checked_at_start_up(app, settings, message):
    table = {"type": "onelogin", "subdomain": "acme", "client_id": "i", "client_secret": "s",
             **settings}
    with pytest.raises(ConfigError) as invalid:
        build_connector(app, table)
    assert message in str(invalid.value)


def test_the_default_address_is_the_subdomains(app):
    table = {"type": "onelogin", "subdomain": "Acme.OneLogin.com", "client_id": "i",
             "client_secret": "s"}
    assert build_connector(app, table).base_url == "https://acme.onelogin.com"


# -- the whole sign-in ---------------------------------------------------------------------------
def onelogin_app(make_app, fake: OneLoginFake, **settings):
    return make_app(DEPLOYMENT=deployment({"corp-onelogin": onelogin_table(fake, **settings)}))


def migrated(app, email: str) -> tuple[User, LegacyLink]:
    with app.app_context(), db.connection_context():
        user = User.get(User.email == email)
        return user, LegacyLink.get(LegacyLink.user == user)


def test_a_user_migrates_from_onelogin(make_app, onelogin):
    app = onelogin_app(make_app, onelogin, users=True)
    walker = SignIn(app.test_client())
    walker.code_from(walker.sign_in(ALICE, ALICE_PASSWORD))
    user, link = migrated(app, ALICE)
    assert (user.given_name, user.family_name) == ("Alice", "Liddell")
    assert (link.connector, link.subject) == ("corp-onelogin", "40001865")


def test_onelogin_mfa_in_the_journey_creates_the_user_only_after_the_right_code(make_app, onelogin):
    app = onelogin_app(make_app, onelogin)
    walker = SignIn(app.test_client())
    secret = onelogin.totp_secret(HATTER)

    asked = walker.sign_in(HATTER, HATTER_PASSWORD)
    assert asked.status_code == 200 and "Verification code" in page_text(asked)
    wrong = walker.post(code=wrong_totp(secret))
    assert "That code is not right" in page_text(wrong) and count_users(app) == 0

    walker.code_from(walker.post(code=totp(secret)))
    assert migrated(app, HATTER)[1].subject == "40001867"


@pytest.mark.parametrize(("identifier", "password", "notice"), [
    pytest.param(LORINA, LORINA_PASSWORD, LOCKED_NOTICE, id="locked"),
    pytest.param(CHESHIRE, CHESHIRE_PASSWORD, RESET_NOTICE, id="push-only-mfa"),
    pytest.param(ALICE, "not-her-password", WRONG_CREDENTIALS, id="wrong-password"),
])
def test_a_refused_sign_in_shows_why_and_creates_nobody(make_app, onelogin, identifier, password,
                                                        notice):
    app = onelogin_app(make_app, onelogin, users=True)
    answer = SignIn(app.test_client()).sign_in(identifier, password)
    assert answer.status_code == 200 and notice in page_text(answer)
    assert count_users(app) == 0


def test_onelogin_down_is_try_again_later(make_app, onelogin):
    app = onelogin_app(make_app, onelogin)
    with onelogin.outage():
        answer = SignIn(app.test_client()).sign_in(ALICE, ALICE_PASSWORD)
    assert answer.status_code == 200 and UNAVAILABLE in page_text(answer)
    assert count_users(app) == 0
