"""The ``rest`` connector against a real hand-written legacy API on loopback (:mod:`tests.peers.rest_legacy`).

Both request shapes meet the shared contract; here also the Ferry contract's (``protocol =
"ferry"``) requests, answers and bad answers. The Keycloak user-migration plug-in's shape is in
``test_rest_plugin.py``, whole sign-ins and settings in ``test_rest_signin.py``.
"""

from __future__ import annotations

import base64

import pytest

from connectors import AccountBlocked, InvalidCredentials, LegacyUnavailable, UserNotFound
from tests.connectors.contract import ContractCase, PasswordConnectorContract, build_connector
from tests.connectors.rest.conftest import (
    ALICE,
    PLUGIN,
    TOKEN,
    ferry_table,
    outage_of,
    password,
    plugin_table,
)
from tests.connectors.scripted_idp import closed_port_url
from tests.peers.rest_legacy import RestLegacyServer


class TestRestContract(PasswordConnectorContract):
    @pytest.fixture
    def contract_case(self, app, legacy):
        return ContractCase(
            connector=build_connector(app, ferry_table(legacy)), identifier=ALICE,
            password=password(legacy, "alice"), wrong_password="not-" + password(legacy, "alice"),
            unknown_identifier="nobody@example.com", expected_email=ALICE,
            outage=outage_of(legacy), secrets=(TOKEN,),
        )


class TestRestPluginContract(PasswordConnectorContract):
    @pytest.fixture
    def contract_case(self, app, legacy):
        return ContractCase(
            connector=build_connector(app, plugin_table(legacy)), identifier=ALICE,
            password=password(legacy, "alice"), wrong_password="not-" + password(legacy, "alice"),
            unknown_identifier="nobody@example.com", expected_email=ALICE,
            outage=outage_of(legacy), secrets=(TOKEN,),
        )


# -- the Ferry contract -------------------------------------------------------------------------
def test_the_verify_request_and_the_identity(app, legacy):
    connector = build_connector(app, ferry_table(legacy, headers={"X-Api-Key": "k-123"}))
    frank = legacy.accounts["frank"]

    identity = connector.verify("frank.case@example.com", frank.password)

    [call] = legacy.calls()
    assert (call.method, call.path) == ("POST", "/api/verify")
    assert call.json == {"identifier": "frank.case@example.com", "password": "p@ss w/ spaces+%"}
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"
    assert call.headers["Accept"] == "application/json"
    assert call.headers["X-Api-Key"] == "k-123"
    assert identity.subject == "1006"
    assert identity.claims["given_name"] == "Frank" and identity.claims["roles"] == []


def test_basic_authentication(app):
    with RestLegacyServer(basic=("ferry", "b4sic-secret")) as server:
        good = build_connector(app, ferry_table(server, bearer_token=None, basic_username="ferry",
                                                basic_password="b4sic-secret"))
        assert good.verify(ALICE, password(server, "alice")).subject == "1001"
        expected = "Basic " + base64.b64encode(b"ferry:b4sic-secret").decode()
        assert server.calls()[0].headers["Authorization"] == expected

        wrong = build_connector(app, ferry_table(server, bearer_token=None, basic_username="ferry",
                                                 basic_password="not-it"))
        with pytest.raises(LegacyUnavailable) as refused:
            wrong.verify(ALICE, password(server, "alice"))
        assert "credentials were refused" in refused.value.reason


@pytest.mark.parametrize("token", ["not-the-token", None], ids=["wrong-token", "no-token"])
def test_a_refused_api_credential_is_ferrys_fault_not_a_wrong_password(app, legacy, token):
    connector = build_connector(app, ferry_table(legacy, bearer_token=token))
    with pytest.raises(LegacyUnavailable) as refused:
        connector.verify(ALICE, password(legacy, "alice"))
    assert "401" in refused.value.reason and "bearer_token" in refused.value.reason


def test_an_unknown_user_is_user_not_found(app, legacy):
    with pytest.raises(UserNotFound):
        build_connector(app, ferry_table(legacy)).verify("nobody@example.com", "whatever")


@pytest.mark.parametrize(("username", "right_password", "outcome"), [
    ("carol", True, "locked"), ("carol", False, "locked"),  # locked: told even without it
    ("dave", True, "disabled"), ("dave", False, InvalidCredentials),
    ("erin", True, "password_expired"), ("erin", False, InvalidCredentials),
])
def test_blocked_accounts(app, legacy, username, right_password, outcome):
    connector = build_connector(app, ferry_table(legacy))
    account = legacy.accounts[username]
    typed = account.password if right_password else "wrong"
    if outcome is InvalidCredentials:
        with pytest.raises(InvalidCredentials) as refused:
            connector.verify(account.email, typed)
        assert type(refused.value) is InvalidCredentials
        return
    with pytest.raises(AccountBlocked) as blocked:
        connector.verify(account.email, typed)
    assert blocked.value.reason == outcome


FERRY_FAULTS = {  # fault -> what the operator's reason says
    "html": "not JSON",
    "500": "500",
    "hang": "timed out",
    "redirect": "302",
    "missing-subject": "'subject'",
    "claims-not-object": "'claims'",
    "not-an-object": "not an object",
}


@pytest.mark.parametrize("fault", list(FERRY_FAULTS), ids=list(FERRY_FAULTS))
def test_a_broken_endpoint_is_unavailable(app, legacy, fault):
    legacy.fault = fault
    with pytest.raises(LegacyUnavailable) as unavailable:
        build_connector(app, ferry_table(legacy)).verify(ALICE, password(legacy, "alice"))
    assert FERRY_FAULTS[fault] in unavailable.value.reason
    assert password(legacy, "alice") not in unavailable.value.reason


def test_extra_fields_are_ignored_and_extra_claims_kept(app, legacy):
    legacy.fault = "extra-fields"
    identity = build_connector(app, ferry_table(legacy)).verify(ALICE, password(legacy, "alice"))
    assert identity.subject == "1001"
    assert identity.claims["shoe_size"] == 38 and "api_version" not in identity.claims


def test_a_wrong_base_url_is_not_a_wrong_password(app, legacy):
    # The web server's own 404 page (HTML), not the contract's {"error": "not_found"}.
    connector = build_connector(app, ferry_table(legacy, base_url=legacy.base_url + "/v2"))
    with pytest.raises(LegacyUnavailable) as unavailable:
        connector.verify(ALICE, password(legacy, "alice"))
    assert "404" in unavailable.value.reason and "base_url" in unavailable.value.reason


@pytest.mark.parametrize("protocol", ["ferry", PLUGIN])
@pytest.mark.parametrize("where", ["connection-refused", "tls-failure"])
def test_transport_failures_are_unavailable(app, legacy, protocol, where):
    table = ferry_table(legacy) if protocol == "ferry" else plugin_table(legacy)
    url = table["base_url"]
    table["base_url"] = (closed_port_url("/api") if where == "connection-refused"
                         else url.replace("http:", "https:"))
    with pytest.raises(LegacyUnavailable) as unavailable:
        build_connector(app, table).verify(ALICE, password(legacy, "alice"))
    assert ("connect" if where == "connection-refused" else "TLS") in unavailable.value.reason


def test_lookup_by_the_contract(app, legacy):
    connector = build_connector(app, ferry_table(legacy))
    assert connector.supports_lookup
    alice = connector.lookup(ALICE)
    assert (alice.subject, alice.claims["family_name"]) == ("1001", "Liddell")
    assert connector.lookup("nobody@example.com") is None
    # One path segment: unescaped, "?" would end the path and find alice.
    assert connector.lookup("alice?x=1") is None
    assert connector.lookup("frank.case@example.com").subject == "1006"
    with pytest.raises(AccountBlocked) as blocked:
        connector.lookup("dave@example.com")
    assert blocked.value.reason == "disabled"
    assert {c.path for c in legacy.calls()} >= {"/api/users/alice@example.com", "/api/users/alice?x=1"}


@pytest.mark.parametrize("fault", ["html", "500", "missing-subject"])
def test_a_broken_lookup_is_unavailable(app, legacy, fault):
    legacy.fault, legacy.fault_on = fault, "lookup"
    connector = build_connector(app, ferry_table(legacy))
    with pytest.raises(LegacyUnavailable):
        connector.lookup(ALICE)
    assert connector.verify(ALICE, password(legacy, "alice")).subject == "1001"  # only lookup broke
