"""The ``auth0`` connector when Auth0 misbehaves (bad bodies, statuses, TLS), and the user's IP
address forwarded only as configured (so an attacker cannot get a user blocked for everybody).
"""

from __future__ import annotations

import json

import pytest

from connectors import (
    AccountBlocked,
    InvalidCredentials,
    LegacyUnavailable,
)
from tests.conftest import SignIn
from tests.connectors.auth0.conftest import (
    ALICE,
    ALICE_PASSWORD,
    ATTACKER_IP,
    USER_IP,
    auth0_table,
    ferry,
)
from tests.connectors.contract import build_connector
from tests.peers.auth0_fake import Auth0Fake, Fault

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
