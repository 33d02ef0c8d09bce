"""The ``rest`` connector against a real hand-written legacy API on loopback (:mod:`tests.peers.rest_legacy`).

Both request shapes: the Ferry contract (``protocol = "ferry"``) and the Keycloak
user-migration plug-in's (``protocol = "keycloak-user-migration"``), each with the shared
contract, the bad answers the issue lists, and whole sign-ins.
"""

from __future__ import annotations

import base64
from contextlib import contextmanager

import pytest

from app import create_app
from connectors import AccountBlocked, InvalidCredentials, LegacyUnavailable, UserNotFound
from models import LegacyLink, PasswordCredential, User, database, db
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
from tests.connectors.scripted_idp import closed_port_url
from tests.peers.rest_legacy import RestLegacyServer

TOKEN = "legacy-api-token-5f2b9c"
ALICE = "alice@example.com"
PLUGIN = "keycloak-user-migration"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """One Ferry for this module's connector-level tests: they build connectors from its config
    and never use its database (whole sign-ins build their own with ``make_app``)."""
    yield create_app({"TESTING": True, "SECRET_KEY": "test-secret-key", "ISSUER": "http://localhost",
                      "CONFIG_FILE": None, "DEPLOYMENT": deployment(),
                      "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('ferry')}/ferry.db"})
    database.shutdown()


@pytest.fixture
def legacy():
    with RestLegacyServer(bearer_token=TOKEN) as server:
        yield server


def ferry_table(server: RestLegacyServer, **settings) -> dict:
    table = {"type": "rest", "base_url": server.ferry_url, "bearer_token": TOKEN,
             "connect_timeout": 0.5, "read_timeout": 0.5, **settings}
    return {key: value for key, value in table.items() if value is not None}


def plugin_table(server: RestLegacyServer, **settings) -> dict:
    return ferry_table(server, base_url=server.plugin_url, protocol=PLUGIN, **settings)


def password(server: RestLegacyServer, username: str) -> str:
    return server.accounts[username].password


def outage_of(server: RestLegacyServer):
    @contextmanager
    def outage():
        server.stop()
        try:
            yield
        finally:
            server.start()
    return outage


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


# -- the Keycloak user-migration plug-in's shapes -----------------------------------------------
def test_plugin_lookup_then_password_check(app, legacy):
    connector = build_connector(app, plugin_table(legacy))
    frank = legacy.accounts["frank"]

    identity = connector.verify("frank.case@example.com", frank.password)

    lookup, check = legacy.calls()
    assert (lookup.method, lookup.path) == ("GET", "/user-migration-support/frank.case@example.com")
    assert (check.method, check.path) == ("POST", "/user-migration-support/frank.case@example.com")
    assert check.json == {"password": "p@ss w/ spaces+%"}
    assert lookup.headers["Authorization"] == check.headers["Authorization"] == f"Bearer {TOKEN}"
    assert identity.subject == "1006"


def test_plugin_claims_are_built_from_the_user_json(app, legacy):
    legacy.accounts["alice"].totps = [{"name": "phone", "secret": "JBSWY3DPEHPK3PXP", "digits": 6}]
    connector = build_connector(app, plugin_table(legacy, mapping={
        "email": "email", "given_name": "given_name", "family_name": "family_name",
        "email_verified": "email_verified", "department": "attributes.department"}))

    identity = connector.verify(ALICE, password(legacy, "alice"))

    claims = identity.claims
    assert identity.subject == "1001" and claims["sub"] == "1001"
    assert (claims["given_name"], claims["family_name"]) == ("Alice", "Liddell")
    assert claims["name"] == "Alice Liddell"
    assert (claims["preferred_username"], claims["email_verified"]) == ("alice", True)
    assert claims["roles"] == ["reader"] and claims["requiredActions"] == ["UPDATE_PROFILE"]
    assert "totps" not in claims and "JBSWY3DPEHPK3PXP" not in repr(claims)


def test_plugin_subject_is_the_username_without_an_id(app, legacy):
    legacy.accounts["bob"].id = ""
    identity = build_connector(app, plugin_table(legacy)).verify("bob@example.com", password(legacy, "bob"))
    assert identity.subject == "bob"


@pytest.mark.parametrize("string_booleans", [False, True], ids=["json-booleans", "string-booleans"])
def test_plugin_disabled_user(app, legacy, string_booleans):
    legacy.plugin_string_booleans = string_booleans
    connector = build_connector(app, plugin_table(legacy))
    assert connector.verify(ALICE, password(legacy, "alice")).claims["email_verified"] is True
    with pytest.raises(AccountBlocked) as blocked:
        connector.verify("dave@example.com", password(legacy, "dave"))
    assert blocked.value.reason == "disabled"
    with pytest.raises(InvalidCredentials) as refused:  # not told without the password
        connector.verify("dave@example.com", "wrong")
    assert type(refused.value) is InvalidCredentials
    with pytest.raises(AccountBlocked):
        connector.lookup("dave@example.com")


@pytest.mark.parametrize("refusal", [400, 401, 403])
def test_plugin_wrong_password_statuses(app, legacy, refusal):
    legacy.plugin_refusal = refusal
    with pytest.raises(InvalidCredentials) as refused:
        build_connector(app, plugin_table(legacy)).verify(ALICE, "wrong")
    assert type(refused.value) is InvalidCredentials


def test_plugin_unknown_user_is_never_asked_for_a_password(app, legacy):
    with pytest.raises(UserNotFound):
        build_connector(app, plugin_table(legacy)).verify("nobody@example.com", "whatever")
    assert [c.method for c in legacy.calls()] == ["GET"]


def test_plugin_an_answer_for_someone_else_is_not_trusted(app, legacy):
    legacy.fault, legacy.fault_on = "someone-else", "lookup"
    connector = build_connector(app, plugin_table(legacy))
    with pytest.raises(UserNotFound):
        connector.verify(ALICE, password(legacy, "bob"))  # bob's password, for the user returned
    assert [c.method for c in legacy.calls()] == ["GET"]
    assert connector.lookup(ALICE) is None


def test_plugin_verify_with_id(app, legacy):
    connector = build_connector(app, plugin_table(legacy, verify_with_id=True))
    assert connector.verify(ALICE, password(legacy, "alice")).subject == "1001"
    assert legacy.calls("POST")[0].path == "/user-migration-support/1001"


PLUGIN_FAULTS = {  # (fault, where) -> reason
    ("html", "lookup"): "not JSON",
    ("500", "lookup"): "500",
    ("hang", "lookup"): "timed out",
    ("missing-subject", "lookup"): "'username'",
    ("not-an-object", "lookup"): "not an object",
    ("500", "verify"): "500",
    ("hang", "verify"): "timed out",
    ("redirect", "verify"): "302",
}


@pytest.mark.parametrize("case", list(PLUGIN_FAULTS), ids=[f"{f}-{w}" for f, w in PLUGIN_FAULTS])
def test_plugin_broken_endpoint_is_unavailable(app, legacy, case):
    legacy.fault, legacy.fault_on = case
    with pytest.raises(LegacyUnavailable) as unavailable:
        build_connector(app, plugin_table(legacy)).verify(ALICE, password(legacy, "alice"))
    assert PLUGIN_FAULTS[case] in unavailable.value.reason


def test_plugin_extra_fields_are_kept_as_claims(app, legacy):
    legacy.fault, legacy.fault_on = "extra-fields", "lookup"
    identity = build_connector(app, plugin_table(legacy)).verify(ALICE, password(legacy, "alice"))
    assert identity.subject == "1001" and identity.claims["api_version"] == 3


def test_plugin_a_refused_api_credential_is_ferrys_fault(app, legacy):
    connector = build_connector(app, plugin_table(legacy, bearer_token="not-the-token"))
    with pytest.raises(LegacyUnavailable) as refused:
        connector.verify(ALICE, password(legacy, "alice"))
    assert "401" in refused.value.reason and "credentials were refused" in refused.value.reason


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("enabled", None, "has no 'enabled'"),
    ("enabled", "yes", "unreadable 'enabled'"),
    ("emailVerified", "maybe", "unreadable 'emailVerified'"),
])
def test_plugin_user_json_with_a_bad_flag_is_unavailable(app, legacy, monkeypatch, field, value, reason):
    account = legacy.accounts["alice"]
    user = {k: v for k, v in account.plugin_user().items() if k != field}
    if value is not None:
        user[field] = value
    monkeypatch.setattr(account, "plugin_user", lambda string_booleans=False: user)
    with pytest.raises(LegacyUnavailable) as unavailable:
        build_connector(app, plugin_table(legacy)).verify(ALICE, password(legacy, "alice"))
    assert reason in unavailable.value.reason


# -- whole sign-ins -----------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", ["ferry", PLUGIN])
def test_a_user_migrates_through_the_whole_sign_in(make_app, legacy, protocol):
    table = ferry_table(legacy) if protocol == "ferry" else plugin_table(legacy)
    app = make_app(DEPLOYMENT=deployment({"old-api": table}))
    walker = SignIn(app.test_client())

    walker.code_from(walker.sign_in(ALICE, password(legacy, "alice")))

    with app.app_context(), db.connection_context():
        user = User.get(User.email == ALICE)
        link = LegacyLink.get(LegacyLink.user == user)
        credential = PasswordCredential.get(PasswordCredential.user == user)
    assert (user.given_name, user.family_name, user.email_verified) == ("Alice", "Liddell", True)
    assert (link.connector, link.subject) == ("old-api", "1001")
    assert password(legacy, "alice") not in credential.hash


@pytest.mark.parametrize("protocol", ["ferry", PLUGIN])
def test_failed_sign_ins_create_no_user(make_app, legacy, protocol):
    table = ferry_table(legacy) if protocol == "ferry" else plugin_table(legacy)
    app = make_app(DEPLOYMENT=deployment({"old-api": table}),
                   FAILED_SIGNINS_PER_IDENTIFIER="3 per 15 minutes")

    [wrong] = sign_in_attempts(app, ALICE, "not-alices-password", times=1)
    [disabled] = sign_in_attempts(app, "dave@example.com", password(legacy, "dave"), times=1)
    legacy.fault = "500"
    down = sign_in_attempts(app, "bob@example.com", password(legacy, "bob"), times=4)

    assert WRONG_CREDENTIALS in page_text(wrong)
    assert "Your account is disabled" in page_text(disabled)
    assert all(UNAVAILABLE in page_text(answer) for answer in down)
    assert retry_after(app, "bob@example.com") == 0  # the outage is not counted against bob
    assert count_users(app) == 0


# -- settings -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("settings", "problem"), [
    ({"base_url": "legacy.example.com/api"}, "http(s) URL"),
    ({"basic_username": "ferry", "basic_password": "x"}, "not both"),
    ({"bearer_token": None, "basic_username": "ferry"}, "go together"),
    ({"verify_with_id": True}, "only used with"),
    ({"bearer_token": ""}, "bearer_token"),  # an unset environment variable, say
    ({"headers": {"Authorization": "Token abc"}}, "Authorization"),
    ({"protocol": "soap"}, "protocol"),
    ({"token_url": "https://x"}, "unknown setting"),
])
def test_settings_are_checked_at_start_up(app, settings, problem):
    table = {"type": "rest", "base_url": "https://legacy.example.com/api", "bearer_token": "t",
             **settings}
    with pytest.raises(ConfigError) as invalid:
        build_connector(app, {k: v for k, v in table.items() if v is not None})
    assert problem in str(invalid.value)
