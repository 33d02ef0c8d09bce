"""The ``pingone`` connector (the flow API's password check) and the ``oidc`` connector's
``pingone`` preset, against a faithful fake of PingOne's endpoints (tests/peers/pingone_fake.py)."""

from __future__ import annotations

import pytest

import connectors
from connectors import AccountBlocked, InvalidCredentials, LegacyUnavailable
from models import LegacyLink, User, db
from settings.errors import ConfigError
from tests.accounts import count_users
from tests.conftest import SignIn, deployment
from tests.connectors.conftest import UNAVAILABLE, WRONG_CREDENTIALS, page_text
from tests.connectors.contract import ContractCase, PasswordConnectorContract, build_connector
from tests.peers.pingone_fake import CHECK_PASSWORD, PingOneFake

ALICE, ALICE_PASSWORD = "alice@example.com", "wonderland-1865"
BOB, BOB_PASSWORD = "bob@example.com", "builder-1999"
LOCKED_NOTICE = "Your account is locked in our old sign-in system"


@pytest.fixture
def pingone():
    with PingOneFake() as fake:
        yield fake


def p1_table(fake: PingOneFake, **settings) -> dict:
    return {"type": "pingone", "environment_id": fake.environment_id, "auth_url": fake.auth_url,
            "client_id": fake.client_id, "client_secret": fake.client_secret,
            "redirect_uri": fake.redirect_uri, "connect_timeout": 1, "read_timeout": 2,
            **settings}


class TestPingOneContract(PasswordConnectorContract):
    @pytest.fixture
    def contract_case(self, app, pingone):
        return ContractCase(
            connector=build_connector(app, p1_table(pingone)),
            identifier=ALICE, password=ALICE_PASSWORD, wrong_password="not-her-password",
            unknown_identifier="nobody@example.com", expected_email=ALICE,
            outage=pingone.stopped, secrets=(pingone.client_secret,),
        )


def test_the_documented_requests_in_order(app, pingone):
    identity = build_connector(app, p1_table(pingone)).verify(ALICE, ALICE_PASSWORD)

    assert identity.subject == pingone.users[ALICE].id
    steps = [(method, path.split("/flows/")[0] + ("/flows/{id}" if "/flows/" in path else ""))
             for method, path, _type, _cookies in pingone.requests]
    assert steps == [("GET", "/as/authorize"), ("POST", "/flows/{id}"), ("POST", "/as/token"),
                     ("GET", "/as/jwks"), ("GET", "/as/userinfo")]
    check = pingone.requests[1]
    assert check[2] == CHECK_PASSWORD and check[3] == ("ST",)  # the flow's own cookie went back


def test_one_users_session_never_signs_in_the_next(app, pingone):
    connector = build_connector(app, p1_table(pingone))
    assert connector.verify(ALICE, ALICE_PASSWORD).subject == pingone.users[ALICE].id

    # Had Alice's session cookie been kept, PingOne would complete Bob's flow as Alice.
    with pytest.raises(InvalidCredentials):
        connector.verify(BOB, "not-his-password")
    assert connector.verify(BOB, BOB_PASSWORD).subject == pingone.users[BOB].id
    authorizes = [r for r in pingone.requests if r[1] == "/as/authorize"]
    assert all(cookies == () for _m, _p, _t, cookies in authorizes)


def test_the_code_can_come_from_the_resume_endpoint(app, pingone):
    pingone.misbehaviour = "code-only-on-resume"
    identity = build_connector(app, p1_table(pingone)).verify(ALICE, ALICE_PASSWORD)
    assert identity.subject == pingone.users[ALICE].id
    assert ("GET", "/as/resume") in [(m, p) for m, p, _t, _c in pingone.requests]


@pytest.mark.parametrize(("identifier", "password", "reason"), [
    ("lorina@example.com", "locked-door-1852", "locked"),
    ("edith@example.com", "expired-tea-1854", "password_expired"),
    ("dodo@example.com", "caucus-race-1865", "password_change_required"),
    ("hatter@example.com", "tea-party-1865", "password_change_required"),  # MFA: not finished
])
def test_statuses_that_block_the_account(app, pingone, identifier, password, reason):
    with pytest.raises(AccountBlocked) as blocked:
        build_connector(app, p1_table(pingone)).verify(identifier, password)
    assert blocked.value.reason == reason
    assert not any(p == "/as/token" for _m, p, _t, _c in pingone.requests)  # no code, no user


@pytest.mark.parametrize("misbehaviour", [
    "429", "503", "html", "no-status", "weird-status", "no-code", "token-refused",
    "bad-id-token", "userinfo-other-sub", "not-login-policy",
])
def test_a_misbehaving_pingone_is_unavailable_never_a_yes(app, pingone, misbehaviour):
    pingone.misbehaviour = misbehaviour
    with pytest.raises(LegacyUnavailable) as down:
        build_connector(app, p1_table(pingone)).verify(ALICE, ALICE_PASSWORD)
    assert down.value.reason.strip()


def test_an_error_in_a_200_flow_is_a_refusal_not_a_yes(app, pingone):
    pingone.misbehaviour = "error-in-200"
    with pytest.raises(InvalidCredentials):
        build_connector(app, p1_table(pingone)).verify(ALICE, ALICE_PASSWORD)


@pytest.mark.parametrize(("settings", "reason"), [
    ({"client_secret": "not-the-secret"}, "invalid_client"),
    ({"redirect_uri": "https://ferry.example.com/other"}, "INVALID_DATA"),
])
def test_ferrys_own_misconfiguration_is_unavailable(app, pingone, settings, reason):
    with pytest.raises(LegacyUnavailable) as down:
        build_connector(app, p1_table(pingone, **settings)).verify(ALICE, ALICE_PASSWORD)
    assert reason in down.value.reason


@pytest.mark.parametrize(("settings", "message"), [
    ({"environment_id": "not-a-uuid"}, "UUID"),
    ({"region": "mars"}, "region"),
    ({"scope": "email"}, "openid"),
    ({"client_secret": None}, "client_secret: required"),
])
def test_settings_are_checked_at_start_up(app, pingone, settings, message):
    table = {k: v for k, v in {**p1_table(pingone), **settings}.items() if v is not None}
    with pytest.raises(ConfigError) as error:
        build_connector(app, table)
    assert message in str(error.value)


def test_the_region_names_the_host(app):
    table = {"type": "pingone", "environment_id": "1f0c2b4e-5a6d-4e8f-9a0b-1c2d3e4f5a6b",
             "region": "eu", "client_id": "c", "client_secret": "s",
             "redirect_uri": "https://ferry.example.com/cb"}
    connector = build_connector(app, table)
    assert connector.settings.token_url == \
        "https://auth.pingone.eu/1f0c2b4e-5a6d-4e8f-9a0b-1c2d3e4f5a6b/as/token"
    assert connector.settings.expected_issuer == \
        "https://auth.pingone.eu/1f0c2b4e-5a6d-4e8f-9a0b-1c2d3e4f5a6b/as"


# -- the whole sign-in ---------------------------------------------------------------------------
def test_a_user_migrates_from_pingone(make_app, pingone):
    app = make_app(DEPLOYMENT=deployment({"corp-p1": p1_table(pingone)}))
    walker = SignIn(app.test_client())
    walker.code_from(walker.sign_in(ALICE, ALICE_PASSWORD))

    with app.app_context(), db.connection_context():
        user = User.get(User.email == ALICE)
        link = LegacyLink.get(LegacyLink.user == user)
    assert user.given_name == "Alice"
    assert (link.connector, link.subject) == ("corp-p1", pingone.users[ALICE].id)


@pytest.mark.parametrize(("identifier", "password", "notice", "misbehaviour"), [
    (ALICE, "not-her-password", WRONG_CREDENTIALS, None),
    ("lorina@example.com", "locked-door-1852", LOCKED_NOTICE, None),
    (ALICE, ALICE_PASSWORD, UNAVAILABLE, "503"),
])
def test_a_refused_sign_in_shows_why_and_creates_nobody(make_app, pingone, identifier, password,
                                                        notice, misbehaviour):
    pingone.misbehaviour = misbehaviour
    app = make_app(DEPLOYMENT=deployment({"corp-p1": p1_table(pingone)}))
    answer = SignIn(app.test_client()).sign_in(identifier, password)
    assert answer.status_code == 200 and notice in page_text(answer)
    assert count_users(app) == 0


# -- the oidc preset -----------------------------------------------------------------------------
def oidc(make_app, **table):
    app = make_app()
    with app.app_context():
        return connectors.build_connectors(
            {"corp": {"type": "oidc", "preset": "pingone", "client_id": "ferry",
                      "client_secret": "s", **table}}, app.config)["corp"]


@pytest.mark.parametrize(("region", "host"), [(None, "auth.pingone.com"),
                                               ("eu", "auth.pingone.eu"),
                                               ("com.au", "auth.pingone.com.au")])
def test_the_preset_issuer(make_app, region, host):
    env = "1f0c2b4e-5a6d-4e8f-9a0b-1c2d3e4f5a6b"
    table = {"environment_id": env, **({"region": region} if region else {})}
    assert oidc(make_app, **table).issuer == f"https://{host}/{env}/as"


@pytest.mark.parametrize(("table", "problem"), [
    ({}, "environment_id: required by preset 'pingone'"),
    ({"environment_id": "acme"}, "not a PingOne environment id"),
    ({"environment_id": "1f0c2b4e-5a6d-4e8f-9a0b-1c2d3e4f5a6b", "preset": "okta",
      "domain": "corp.okta.com"}, "environment_id: only for preset pingone"),
])
def test_the_preset_checks_its_settings(make_app, table, problem):
    with pytest.raises(ConfigError) as error:
        oidc(make_app, **table)
    assert problem in str(error.value)
