"""The ``auth0`` connector's passwordless codes against the faithful Auth0 fake, over loopback.

Auth0 sends the code itself (``POST /passwordless/start``) and exchanges it for the user's
tokens (the ``passwordless/otp`` grant); :mod:`tests.peers.auth0_fake` serves both with Auth0's
documented rules (only the last code counts, single use, expiry, 3 wrong tries) and errors.
"""

from __future__ import annotations

import json
import logging

import pytest

from connectors import InvalidCredentials, LegacyUnavailable, UserNotFound
from connectors.base import CodeThrottled, PasswordlessConnector
from settings.errors import ConfigError
from tests.connectors.contract import build_connector, log_text
from tests.peers.auth0_fake import Auth0Client, Auth0Fake, Fault
from tests.peers.auth0_passwordless import PASSWORDLESS_OTP

ALICE = "alice@example.com"  # known to Auth0's email connection (email|65f0...)
ALICE_SUB = "email|65f0c1a2b3d4e5f601234567"
PHONE = "+15555550100"  # known to Auth0's sms connection
USER_IP = "203.0.113.7"


@pytest.fixture
def auth0():
    with Auth0Fake() as fake:
        yield fake


def passwordless_table(fake: Auth0Fake, **settings) -> dict:
    table = {"type": "auth0", "base_url": fake.base_url, "client_id": fake.client.client_id,
             "client_secret": fake.client.client_secret, "passwordless": "email",
             "connect_timeout": 0.5, "read_timeout": 0.5, **settings}
    return {key: value for key, value in table.items() if value is not None}


@pytest.fixture
def connector(app, auth0):
    return build_connector(app, passwordless_table(auth0))


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**len(code):0{len(code)}d}"


# -- the capability and its settings --------------------------------------------------------------
def test_the_capability_follows_the_setting(app, auth0):
    on = build_connector(app, passwordless_table(auth0, otp_length=8, otp_expiry=300))
    off = build_connector(app, passwordless_table(auth0, passwordless=None))
    assert isinstance(on, PasswordlessConnector)
    assert (on.code_channel, on.code_digits, on.code_ttl) == ("email", 8, 300)
    assert (off.code_channel, off.code_digits, off.code_ttl) == (None, 6, 180)
    assert on.settings.passwordless_start_url == auth0.base_url + "/passwordless/start"


@pytest.mark.parametrize(("settings", "problem"), [
    ({"passwordless": "whatsapp"}, "passwordless"),
    ({"otp_length": 3}, "otp_length"),
    ({"otp_expiry": 0}, "otp_expiry"),
])
def test_bad_passwordless_settings_fail_at_start_up(app, auth0, settings, problem):
    with pytest.raises(ConfigError) as invalid:
        build_connector(app, passwordless_table(auth0, **settings))
    assert problem in str(invalid.value)


# -- sending ------------------------------------------------------------------------------------
def test_the_code_is_asked_for_as_auth0_documents(connector, auth0):
    connector.request_code(ALICE, "email")

    [start] = auth0.calls("/passwordless/start")
    assert start.form == {"client_id": auth0.client.client_id,
                          "client_secret": auth0.client.client_secret,
                          "connection": "email", "email": ALICE, "send": "code"}
    assert start.headers["Content-Type"] == "application/json"
    [sent] = auth0.sent
    assert (sent.connection, sent.to, len(sent.code)) == ("email", ALICE, 6)


def test_the_users_ip_and_language_reach_auth0(app, auth0):
    auth0.client.trust_ip_header = True
    connector = build_connector(app, passwordless_table(auth0, forward_user_ip=True))
    with app.test_request_context(environ_base={"REMOTE_ADDR": USER_IP},
                                  headers={"Accept-Language": "fr-CA,fr;q=0.8"}):
        connector.request_code(ALICE, "email")
    connector.request_code(ALICE, "email")  # no user asking: neither header
    asked, unasked = auth0.calls("/passwordless/start")
    assert asked.headers["Auth0-Forwarded-For"] == USER_IP
    assert asked.headers["X-Request-Language"] == "fr-CA"
    assert auth0.sent[0].language == "fr-CA"
    assert "Auth0-Forwarded-For" not in unasked.headers
    assert "X-Request-Language" not in unasked.headers


# -- checking -----------------------------------------------------------------------------------
def test_the_right_code_gives_the_users_identity(connector, auth0):
    connector.request_code(ALICE, "email")
    code = auth0.last_code(ALICE)

    identity = connector.redeem_code(ALICE, code, "email")

    assert identity.connector == "legacy" and identity.subject == ALICE_SUB
    assert identity.claims["email"] == ALICE and identity.claims["email_verified"] is True
    assert identity.claims["given_name"] == "Alice"
    assert identity.claims["aud"] == auth0.client.client_id  # read from the id_token too
    [token] = auth0.calls("/oauth/token")
    assert token.form == {"grant_type": PASSWORDLESS_OTP, "realm": "email", "username": ALICE,
                          "otp": code, "scope": "openid profile email",
                          "client_id": auth0.client.client_id,
                          "client_secret": auth0.client.client_secret}
    assert len(auth0.calls("/userinfo")) == 1


def test_a_wrong_code_is_invalid_credentials(connector, auth0):
    connector.request_code(ALICE, "email")
    with pytest.raises(InvalidCredentials):
        connector.redeem_code(ALICE, wrong(auth0.last_code(ALICE)), "email")
    assert connector.redeem_code(ALICE, auth0.last_code(ALICE), "email").subject == ALICE_SUB


def test_a_code_works_once(connector, auth0):
    connector.request_code(ALICE, "email")
    code = auth0.last_code(ALICE)
    connector.redeem_code(ALICE, code, "email")
    with pytest.raises(InvalidCredentials):
        connector.redeem_code(ALICE, code, "email")


def test_an_expired_code_is_refused(connector, auth0):
    connector.request_code(ALICE, "email")
    auth0.expire_codes()
    with pytest.raises(InvalidCredentials):
        connector.redeem_code(ALICE, auth0.last_code(ALICE), "email")


def test_only_the_last_code_sent_works(connector, auth0):
    connector.request_code(ALICE, "email")
    first = auth0.last_code(ALICE)
    connector.request_code(ALICE, "email")
    second = auth0.last_code(ALICE)
    if first != second:
        with pytest.raises(InvalidCredentials):
            connector.redeem_code(ALICE, first, "email")
    assert connector.redeem_code(ALICE, second, "email").subject == ALICE_SUB


def test_a_code_for_another_address_is_refused(connector, auth0):
    connector.request_code(ALICE, "email")
    connector.request_code("bob@example.com", "email")
    with pytest.raises(InvalidCredentials):
        connector.redeem_code("bob@example.com", auth0.last_code(ALICE), "email")


def test_three_wrong_tries_kill_the_code(connector, auth0):
    connector.request_code(ALICE, "email")
    code = auth0.last_code(ALICE)
    for _ in range(3):
        with pytest.raises(InvalidCredentials):
            connector.redeem_code(ALICE, wrong(code), "email")
    with pytest.raises(InvalidCredentials):  # Auth0 wants a new code now
        connector.redeem_code(ALICE, code, "email")


def test_too_many_attempts_is_throttled(app):
    with Auth0Fake(brute_force_limit=4) as fake:
        connector = build_connector(app, passwordless_table(fake))
        for _ in range(2):  # two codes, two wrong tries each: 4 in all
            connector.request_code(ALICE, "email")
            for _ in range(2):
                with pytest.raises(InvalidCredentials):
                    connector.redeem_code(ALICE, wrong(fake.last_code(ALICE)), "email")
        with pytest.raises(CodeThrottled):
            connector.request_code(ALICE, "email")
        with pytest.raises(CodeThrottled):
            connector.redeem_code(ALICE, "123456", "email")
        assert connector.guard.state == "closed"  # the user's answer, not an outage


# -- who gets a code -----------------------------------------------------------------------------
def test_a_new_address_gets_a_code_and_auth0_creates_its_user(connector, auth0):
    connector.request_code("newcomer@example.com", "email")
    identity = connector.redeem_code("newcomer@example.com", auth0.last_code("newcomer@example.com"),
                                     "email")
    assert identity.subject.startswith("email|") and identity.subject != ALICE_SUB
    assert identity.claims["email"] == "newcomer@example.com"


def test_with_sign_ups_off_an_unknown_address_gets_no_code(connector, auth0):
    auth0.passwordless["email"].disable_signup = True
    with pytest.raises(UserNotFound):
        connector.request_code("nobody@example.com", "email")
    assert auth0.sent == []
    connector.request_code(ALICE, "email")  # known users still get theirs
    assert [s.to for s in auth0.sent] == [ALICE]


@pytest.mark.parametrize("answer", [
    {"error": "bad.email", "error_description": "Invalid email"},
    {"error": "something.new", "error_description": "an answer Auth0 has not documented"},
])
def test_a_refusal_about_the_address_is_no_code_for_it(connector, auth0, answer):
    auth0.faults["/passwordless/start"] = Fault(400, json.dumps(answer))
    with pytest.raises(UserNotFound):
        connector.request_code(ALICE, "email")


def test_codes_by_sms(app, auth0):
    connector = build_connector(app, passwordless_table(auth0, passwordless="sms"))
    connector.request_code(PHONE, connector.code_channel)
    [start] = auth0.calls("/passwordless/start")
    assert start.form["connection"] == "sms" and start.form["phone_number"] == PHONE
    identity = connector.redeem_code(PHONE, auth0.last_code(PHONE), "sms")
    assert identity.subject == "sms|65f0c1a2b3d4e5f6012345ff"
    assert auth0.calls("/oauth/token")[0].form["realm"] == "sms"
    with pytest.raises(ValueError, match="channel"):
        connector.request_code(PHONE, "carrier-pigeon")


# -- Ferry's own settings refused ------------------------------------------------------------------
@pytest.mark.parametrize(("setup", "reason"), [
    (lambda fake: setattr(fake.client, "client_secret", "rotated-at-auth0"), "access_denied"),
    (lambda fake: fake.client.connections.discard("email"), "bad.connection"),
    (lambda fake: setattr(fake.passwordless["email"], "enabled", False), "bad.connection"),
    (lambda fake: fake.passwordless.clear(), "bad.connection"),
])
def test_auth0_refusing_ferry_at_start_is_unavailable_and_logged(connector, auth0, caplog, setup,
                                                                 reason):
    setup(auth0)
    with caplog.at_level(logging.ERROR), pytest.raises(LegacyUnavailable) as unavailable:
        connector.request_code(ALICE, "email")
    assert reason in unavailable.value.reason
    assert any("check its settings" in r.getMessage() for r in caplog.records)
    assert auth0.sent == []


@pytest.mark.parametrize(("setup", "reason"), [
    (lambda fake: setattr(fake.client, "client_secret", "rotated-at-auth0"), "access_denied"),
    (lambda fake: fake.client.grant_types.discard(PASSWORDLESS_OTP), "unauthorized_client"),
])
def test_auth0_refusing_ferry_at_the_grant_is_unavailable(connector, auth0, setup, reason):
    connector.request_code(ALICE, "email")
    setup(auth0)
    with pytest.raises(LegacyUnavailable) as unavailable:
        connector.redeem_code(ALICE, auth0.last_code(ALICE), "email")
    assert reason in unavailable.value.reason


def test_a_public_client_sends_no_secret(app, auth0):
    client = auth0.add_client(Auth0Client("native-app", None, auth_method="none"))
    connector = build_connector(app, passwordless_table(
        auth0, client_id=client.client_id, client_secret=None, client_auth="none"))
    connector.request_code(ALICE, "email")
    assert "client_secret" not in auth0.calls("/passwordless/start")[0].form
    assert connector.redeem_code(ALICE, auth0.last_code(ALICE), "email").subject == ALICE_SUB


# -- Auth0 down or misbehaving ---------------------------------------------------------------------
def test_auth0_down_is_unavailable(connector, auth0):
    with auth0.stopped():
        with pytest.raises(LegacyUnavailable) as unavailable:
            connector.request_code(ALICE, "email")
        assert "could not connect" in unavailable.value.reason
    connector.request_code(ALICE, "email")
    code = auth0.last_code(ALICE)
    with auth0.stopped(), pytest.raises(LegacyUnavailable):
        connector.redeem_code(ALICE, code, "email")
    assert connector.redeem_code(ALICE, code, "email").subject == ALICE_SUB  # nothing used up


FAILURES = {
    "500": (Fault(500, '{"error":"server_error"}'), "answered 500"),
    "502-html": (Fault(502, "<h1>Bad gateway</h1>", "text/html"), "answered 502"),
    "200-html": (Fault(200, "<html>Log in</html>", "text/html"), "not JSON"),
    "200-without-id": (Fault(200, '{"email":"alice@example.com"}'), "_id"),
    "hangs": (Fault(hang=True), "timed out"),
    "sms-provider": (Fault(400, json.dumps({"error": "sms_provider_error",
                                            "error_description": "Twilio said no (Code: 21211)"})),
                     "could not send the SMS"),
}


@pytest.mark.parametrize("failure", list(FAILURES))
def test_a_misbehaving_passwordless_start_is_unavailable(connector, auth0, failure):
    fault, reason = FAILURES[failure]
    auth0.faults["/passwordless/start"] = fault
    with pytest.raises(LegacyUnavailable) as unavailable:
        connector.request_code(ALICE, "email")
    assert reason in unavailable.value.reason


def test_the_circuit_breaker_guards_passwordless_calls(app, auth0):
    connector = build_connector(app, passwordless_table(auth0, breaker_failures=2,
                                                        breaker_reset=60))
    auth0.faults["/passwordless/start"] = Fault(503, '{"error":"temporarily_unavailable"}')
    for _ in range(2):
        with pytest.raises(LegacyUnavailable):
            connector.request_code(ALICE, "email")
    del auth0.faults["/passwordless/start"]
    for call in (lambda: connector.request_code(ALICE, "email"),
                 lambda: connector.redeem_code(ALICE, "123456", "email")):
        with pytest.raises(LegacyUnavailable) as fast:
            call()
        assert "circuit breaker open" in fast.value.reason
    assert len(auth0.calls("/passwordless/start")) == 2 and auth0.calls("/oauth/token") == []


def test_auth0_rate_limits_are_unavailable_without_opening_the_breaker(app, auth0):
    connector = build_connector(app, passwordless_table(auth0, breaker_failures=1))
    auth0.rate_limited = True
    with pytest.raises(LegacyUnavailable) as unavailable:
        connector.request_code(ALICE, "email")
    assert "rate limit" in unavailable.value.reason
    with pytest.raises(LegacyUnavailable):
        connector.redeem_code(ALICE, "123456", "email")
    assert connector.guard.state == "closed"
    auth0.rate_limited = False
    connector.request_code(ALICE, "email")


def test_no_log_holds_a_code_or_the_secret(connector, auth0, caplog):
    with caplog.at_level(logging.DEBUG):
        connector.request_code(ALICE, "email")
        code = auth0.last_code(ALICE)
        with pytest.raises(InvalidCredentials):
            connector.redeem_code(ALICE, wrong(code), "email")
        connector.redeem_code(ALICE, code, "email")
        auth0.client.client_secret = "rotated-at-auth0"
        with pytest.raises(LegacyUnavailable):
            connector.request_code(ALICE, "email")
    logged = log_text(caplog.records)
    assert code not in logged and wrong(code) not in logged
    assert "ferry-client-secret-0123456789" not in logged
