"""The ``auth0`` connector against a faithful fake of Auth0's Authentication API.

Auth0 cannot run here; :mod:`tests.peers.auth0_fake` serves its documented ``/oauth/token``
(password-realm and mfa-otp grants), ``/userinfo`` and ``/mfa/authenticators`` on loopback,
with Auth0's error bodies and status codes. Here: the contract, what Ferry sends, and how
Auth0's answers map.
"""

from __future__ import annotations

import json

import pytest

from connectors import (
    AccountBlocked,
    InvalidCredentials,
    LegacyUnavailable,
    UserNotFound,
)
from settings.errors import ConfigError
from tests.connectors.auth0.conftest import (
    ALICE,
    ALICE_PASSWORD,
    auth0_table,
)
from tests.connectors.contract import ContractCase, PasswordConnectorContract, build_connector
from tests.peers.auth0_fake import PASSWORD_REALM, Auth0Client, Auth0Fake, Fault


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
