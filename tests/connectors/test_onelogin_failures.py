"""The ``onelogin`` connector when OneLogin's answers are wrong: garbage, missing fields, an error
inside a 200, rate limits, a broken token endpoint, links elsewhere.

No real OneLogin gives these on demand, so a :class:`ScriptedIdp` does; the documented answers
are in test_onelogin.py, against tests/peers/onelogin_fake.py. Whatever comes, the outcome is a
clear refusal or "unavailable", never a sign-in and never a 500.
"""

from __future__ import annotations

import pytest

from connectors import AccountBlocked, InvalidCredentials, LegacyUnavailable
from connectors.hashes import UserDataInvalid
from tests.connectors.contract import build_connector, log_text
from tests.connectors.scripted_idp import TLS_HANDSHAKE, Reply, ScriptedIdp, closed_port_url
from tests.connectors.test_onelogin import ALICE, ALICE_PASSWORD, HATTER, mfa_challenge, onelogin_table


# -- the login answer --------------------------------------------------------------------
def envelope(message="Success", data=None, **status):
    return {"status": {"type": "success", "message": message, "code": 200, "error": False, **status},
            **({"data": data} if data is not None else {})}


def failed(code, kind, message):
    return envelope(message, type=kind, code=code, error=True)


TOKEN = Reply(200, {"access_token": "t", "expires_in": 36000})
MFA = "MFA is required for this user"
FAILURES = {
    "html-200": (Reply(200, "<html>Sign in</html>", "text/html"), LegacyUnavailable, "not JSON"),
    "invalid-json": (Reply(200, '{"status": {"type": "success",'), LegacyUnavailable, "not JSON"),
    "json-list": (Reply(200, [envelope()]), LegacyUnavailable, "not an object"),
    "500": (Reply(500, "<h1>oops</h1>", "text/html"), LegacyUnavailable, "500"),
    "429": (Reply(429, failed(429, "Too Many Requests", "Rate Limit Exceeded"), headers={
        "X-RateLimit-Limit": "5000", "X-RateLimit-Reset": "1200"}), LegacyUnavailable, "in 1200 s"),
    "302": (Reply(302, "", "text/html", headers={"Location": "/login"}), LegacyUnavailable, "302"),
    "200-with-a-401-body": (Reply(200, failed(401, "Unauthorized", "Authentication Failed: "
                                              "Invalid user credentials")), InvalidCredentials, ""),
    "200-with-an-error-body": (Reply(200, failed(400, "bad request", "Something broke")),
                               LegacyUnavailable, "error body"),
    "400": (Reply(400, failed(400, "bad request", "Invalid subdomain")), LegacyUnavailable,
            "Invalid subdomain"),
    "400-locked": (Reply(400, failed(400, "bad request", "User is locked")), AccountBlocked, "locked"),
    "unknown-message": (Reply(200, envelope("Welcome", data=[{}])), LegacyUnavailable, "Welcome"),
    "no-status": (Reply(200, {"data": [{"user": {"id": 1}}]}), LegacyUnavailable, "200"),
    "success-without-data": (Reply(200, envelope()), UserDataInvalid, "data[0].user.id"),
    "success-user-without-id": (Reply(200, envelope(data=[{"user": {"email": ALICE}}])),
                                UserDataInvalid, "data[0].user.id"),
    "success-id-not-a-number": (Reply(200, envelope(data=[{"user": {"id": True}}])),
                                UserDataInvalid, "data[0].user.id"),
    "mfa-without-state-token": (Reply(200, envelope(MFA, data=[{"devices": []}])),
                                LegacyUnavailable, "state_token"),
    "token-refused-twice": (Reply(401, failed(401, "Unauthorized", "Authentication Failure")),
                            LegacyUnavailable, "twice"),
    "hang": (Reply(hang=True), LegacyUnavailable, "timed out"),
}


@pytest.mark.parametrize("name", list(FAILURES))
def test_a_misbehaving_onelogin_is_never_a_yes(app, scripted_idp, name, caplog):
    reply, outcome, reason = FAILURES[name]
    scripted_idp.routes |= {"/auth/oauth2/v2/token": TOKEN, "/api/1/login/auth": reply}
    connector = build_connector(app, onelogin_table(scripted_idp, read_timeout=0.5))
    with pytest.raises(outcome) as raised:
        connector.check_password(ALICE, ALICE_PASSWORD)
    assert reason in getattr(raised.value, "reason", "")
    assert ALICE_PASSWORD not in log_text(caplog.records)


@pytest.mark.parametrize("token_answer", [
    Reply(200, {"token_type": "bearer"}), Reply(200, "nope", "text/plain"),
    Reply(400, failed(400, "bad request", "grant_type is incorrect/absent")),
    Reply(500, "")])
def test_a_broken_token_endpoint_is_unavailable(app, scripted_idp, token_answer):
    scripted_idp.routes["/auth/oauth2/v2/token"] = token_answer
    with pytest.raises(LegacyUnavailable):
        build_connector(app, onelogin_table(scripted_idp)).verify(ALICE, ALICE_PASSWORD)
    assert scripted_idp.calls("/api/1/login/auth") == []


def test_two_users_with_one_address_are_one_users_problem(app, scripted_idp):
    scripted_idp.routes["/auth/oauth2/v2/token"] = TOKEN
    scripted_idp.routes["/api/2/users"] = Reply(200, [{"id": 1, "email": ALICE}, {"id": 2, "email": ALICE}])
    table = onelogin_table(scripted_idp, users_client_id="r", users_client_secret="s")
    with pytest.raises(UserDataInvalid) as invalid:
        build_connector(app, table).lookup(ALICE)
    assert "2 users" in invalid.value.reason and not invalid.value.outage


def test_a_callback_url_elsewhere_is_never_followed(app, scripted_idp):
    with ScriptedIdp() as elsewhere:
        scripted_idp.routes["/auth/oauth2/v2/token"] = TOKEN
        scripted_idp.routes["/api/1/login/auth"] = Reply(200, {
            "status": {"type": "success", "message": "MFA is required for this user", "code": 200,
                       "error": False},
            "data": [{"user": {"id": 7, "email": HATTER}, "state_token": "st",
                      "callback_url": elsewhere.url("/api/1/login/verify_factor"),
                      "devices": [{"device_type": "Google Authenticator", "device_id": 5}]}]})
        scripted_idp.routes["/api/1/login/verify_factor"] = Reply(401, {"status": {
            "error": True, "code": 401, "type": "Unauthorized",
            "message": "Failed authentication with this factor"}})
        connector = build_connector(app, onelogin_table(scripted_idp))
        with pytest.raises(InvalidCredentials):
            connector.complete_mfa(mfa_challenge(connector).state, "123456")
        assert elsewhere.requests == [] and scripted_idp.calls("/api/1/login/verify_factor")


def test_tls_is_verified_and_a_refused_connection_is_unavailable(app, scripted_idp):
    tls = build_connector(app, onelogin_table(scripted_idp, base_url=scripted_idp.base_url.replace(
        "http:", "https:")))
    with pytest.raises(LegacyUnavailable) as down:
        tls.verify(ALICE, ALICE_PASSWORD)
    assert "TLS" in down.value.reason
    assert scripted_idp.calls(TLS_HANDSHAKE) and not scripted_idp.calls("/auth/oauth2/v2/token")

    refused = build_connector(app, onelogin_table(scripted_idp, base_url=closed_port_url("")))
    with pytest.raises(LegacyUnavailable) as down:
        refused.verify(ALICE, ALICE_PASSWORD)
    assert "connect" in down.value.reason
