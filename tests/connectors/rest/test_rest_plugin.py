"""The ``rest`` connector with the Keycloak user-migration plug-in's request shapes
(``protocol = "keycloak-user-migration"``): lookup then password check, claims from the user
JSON, disabled users, refusals and broken endpoints.
"""

from __future__ import annotations

import pytest

from connectors import AccountBlocked, InvalidCredentials, LegacyUnavailable, UserNotFound
from tests.connectors.contract import build_connector
from tests.connectors.rest.conftest import (
    ALICE,
    TOKEN,
    password,
    plugin_table,
)


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
