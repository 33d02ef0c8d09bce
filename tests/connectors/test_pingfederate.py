"""The ``pingfederate`` connector and the ``oidc`` connector's ``pingfederate`` preset, against a
faithful fake of PingFederate's runtime endpoints (tests/peers/pingfederate_fake.py)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

import connectors
from connectors import AccountBlocked, InvalidCredentials, LegacyUnavailable
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
from tests.connectors.contract import ContractCase, PasswordConnectorContract, build_connector
from tests.peers.pingfederate_fake import PingFederateFake

ALICE, ALICE_PASSWORD = "alice@example.com", "wonderland-1865"
LOCKED_NOTICE = "Your account is locked in our old sign-in system"


@pytest.fixture
def pingfederate():
    with PingFederateFake() as fake:
        yield fake


def pf_table(fake: PingFederateFake, **settings) -> dict:
    return {"type": "pingfederate", "base_url": fake.url, "client_id": fake.client_id,
            "client_secret": fake.client_secret, "connect_timeout": 1, "read_timeout": 2,
            **settings}


class TestPingFederateContract(PasswordConnectorContract):
    @pytest.fixture
    def contract_case(self, app, pingfederate):
        return ContractCase(
            connector=build_connector(app, pf_table(pingfederate)),
            identifier=ALICE, password=ALICE_PASSWORD, wrong_password="not-her-password",
            unknown_identifier="nobody@example.com", expected_email=ALICE,
            outage=pingfederate.stopped, secrets=(pingfederate.client_secret,),
        )


def test_the_endpoints_come_from_the_base_url(app, pingfederate):
    connector = build_connector(app, pf_table(pingfederate, base_url=pingfederate.url + "/"))
    identity = connector.verify(ALICE, ALICE_PASSWORD)

    assert identity.subject == "alice"
    assert (identity.claims["given_name"], identity.claims["family_name"]) == ("Alice", "Liddell")
    assert [(m, p) for m, p, _form in pingfederate.requests] == [
        ("POST", "/as/token.oauth2"), ("GET", "/pf/JWKS"), ("GET", "/idp/userinfo.openid")]
    # HTTP Basic by default: no secret in the form; the documented ROPC parameters.
    assert pingfederate.requests[0][2] == ("grant_type", "password", "scope", "username")


def test_client_secret_in_the_form_works_too(app, pingfederate):
    connector = build_connector(app, pf_table(pingfederate, client_auth="post"))
    assert connector.verify(ALICE, ALICE_PASSWORD).subject == "alice"
    assert "client_secret" in pingfederate.requests[0][2]


@pytest.mark.parametrize(("identifier", "password", "reason"), [
    ("lorina@example.com", "locked-door-1852", "locked"),
    ("edith@example.com", "expired-tea-1854", "password_expired"),
    ("gryphon@example.com", "mock-turtle-1865", "disabled"),
    ("dodo@example.com", "caucus-race-1865", "password_change_required"),
])
def test_blocked_accounts_are_blocked_with_the_reason(app, pingfederate, identifier, password,
                                                      reason):
    connector = build_connector(app, pf_table(pingfederate))
    with pytest.raises(AccountBlocked) as blocked:
        connector.verify(identifier, password)
    assert blocked.value.reason == reason


@pytest.mark.parametrize(("description", "outcome"), [
    ("Invalid username or password", InvalidCredentials),
    ("Authentication failed", InvalidCredentials),
    ("", InvalidCredentials),
    ("The account is locked out", AccountBlocked),
    ("Your password has expired", AccountBlocked),
    ("The password must be changed", AccountBlocked),
])
def test_invalid_grant_descriptions(app, pingfederate, description, outcome):
    pingfederate.descriptions["wrong"] = description
    with pytest.raises(outcome):
        build_connector(app, pf_table(pingfederate)).verify(ALICE, "not-her-password")


@pytest.mark.parametrize(("fake_settings", "table_settings", "error"), [
    ({}, {"client_secret": "not-the-secret"}, "invalid_client"),
    ({"grants": ("authorization_code",)}, {}, "unauthorized_client"),
    ({}, {"scope": "openid email admin"}, "invalid_scope"),
])
def test_refusals_of_ferry_itself_are_unavailable(app, fake_settings, table_settings, error):
    with PingFederateFake(**fake_settings) as fake:
        connector = build_connector(app, pf_table(fake, **table_settings))
        with pytest.raises(LegacyUnavailable) as down:
            connector.verify(ALICE, ALICE_PASSWORD)
    assert error in down.value.reason


@pytest.mark.parametrize("misbehaviour", [
    "429", "503", "html", "error-in-200", "no-access-token", "userinfo-no-sub",
    "userinfo-other-sub", "bad-id-token",
])
def test_a_misbehaving_pingfederate_is_unavailable_never_a_yes(app, pingfederate, misbehaviour):
    pingfederate.misbehaviour = misbehaviour
    connector = build_connector(app, pf_table(pingfederate))
    with pytest.raises(LegacyUnavailable) as down:
        connector.verify(ALICE, ALICE_PASSWORD)
    assert down.value.reason.strip()


def test_without_userinfo_the_checked_id_token_is_the_profile(app, pingfederate):
    connector = build_connector(app, pf_table(pingfederate, use_userinfo=False))
    identity = connector.verify(ALICE, ALICE_PASSWORD)
    assert (identity.subject, identity.claims["email"]) == ("alice", ALICE)
    assert ("GET", "/idp/userinfo.openid") not in [(m, p) for m, p, _ in pingfederate.requests]


@pytest.mark.parametrize(("settings", "message"), [
    ({"base_url": "https://sso.example.com:9031/as/token.oauth2"}, "not an endpoint"),
    ({"base_url": "sso.example.com"}, "http(s) URL"),
    ({"scope": "email profile"}, "must contain 'openid'"),
    ({"use_userinfo": False, "verify_id_token": False}, "keep one on"),
])
def test_settings_are_checked_at_start_up(app, pingfederate, settings, message):
    with pytest.raises(ConfigError) as error:
        build_connector(app, pf_table(pingfederate, **settings))
    assert message in str(error.value)


# -- the whole sign-in ---------------------------------------------------------------------------
def pf_app(make_app, fake: PingFederateFake, **config):
    return make_app(DEPLOYMENT=deployment({"corp-pf": pf_table(fake)}), **config)


def test_a_user_migrates_from_pingfederate(make_app, pingfederate):
    app = pf_app(make_app, pingfederate)
    walker = SignIn(app.test_client())
    walker.code_from(walker.sign_in(ALICE, ALICE_PASSWORD))

    with app.app_context(), db.connection_context():
        user = User.get(User.email == ALICE)
        link = LegacyLink.get(LegacyLink.user == user)
    assert (user.given_name, user.family_name) == ("Alice", "Liddell")
    assert (link.connector, link.subject) == ("corp-pf", "alice")


@pytest.mark.parametrize(("identifier", "password", "notice"), [
    (ALICE, "not-her-password", WRONG_CREDENTIALS),
    ("lorina@example.com", "locked-door-1852", LOCKED_NOTICE),
])
def test_a_refused_sign_in_shows_why_and_creates_nobody(make_app, pingfederate, identifier,
                                                        password, notice):
    app = pf_app(make_app, pingfederate)
    answer = SignIn(app.test_client()).sign_in(identifier, password)
    assert answer.status_code == 200 and notice in page_text(answer)
    assert count_users(app) == 0


def test_pingfederate_down_is_never_the_users_fault(make_app, pingfederate):
    app = pf_app(make_app, pingfederate, FAILED_SIGNINS_PER_IDENTIFIER="2 per 15 minutes")
    pingfederate.misbehaviour = "503"
    answers = sign_in_attempts(app, ALICE, ALICE_PASSWORD, times=3)
    assert all(a.status_code == 200 and UNAVAILABLE in page_text(a) for a in answers)
    assert count_users(app) == 0
    assert retry_after(app, ALICE) == 0


# -- the oidc preset -----------------------------------------------------------------------------
def oidc_connector(make_app, **table):
    app = make_app()
    with app.app_context():
        return connectors.build_connectors(
            {"corp": {"type": "oidc", "preset": "pingfederate", "client_id": "ferry",
                      "client_secret": "s", **table}}, app.config)["corp"]


def test_the_preset_issuer_is_the_base_url(make_app):
    connector = oidc_connector(make_app, base_url="https://sso.example.com:9031/")
    assert connector.issuer == "https://sso.example.com:9031"
    with pytest.raises(ConfigError) as error:
        oidc_connector(make_app)
    assert "base_url: required by preset 'pingfederate'" in str(error.value)


def test_a_redirect_sign_in_round_trip_through_the_preset(make_app, pingfederate):
    connector = oidc_connector(make_app, base_url=pingfederate.url,
                               client_secret=pingfederate.client_secret)
    callback = "http://localhost/federate/corp/callback"

    url, state = connector.start("journey-ref-1", callback)
    assert url.startswith(pingfederate.url + "/as/authorization.oauth2?")
    back = requests.get(url, allow_redirects=False, timeout=5)
    assert back.status_code == 302
    params = dict(parse_qsl(urlsplit(back.headers["Location"]).query))
    assert params["state"] == "journey-ref-1"

    identity = connector.complete(params, state, callback)
    assert (identity.subject, identity.claims["email"]) == ("alice", ALICE)
    assert ("POST", "/as/token.oauth2") in [(m, p) for m, p, _ in pingfederate.requests]
