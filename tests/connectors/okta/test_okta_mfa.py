"""The ``okta`` connector's second factor: TOTP and SMS factors finished with the user's code
against the fake Okta, and, from a :class:`ScriptedIdp`, verify links to other hosts, how factor
answers are read and failures no real Okta produces on demand."""

from __future__ import annotations

import json
import logging

import pytest

from connectors import (
    AccountBlocked,
    InvalidCredentials,
    LegacyUnavailable,
    MfaRequired,
)
from tests.connectors.contract import (
    build_connector,
    log_text,
)
from tests.connectors.okta.org import (
    ALICE,
    ALICE_PASSWORD,
    HATTER,
    HATTER_PASSWORD,
    QUEEN,
    QUEEN_PASSWORD,
    mfa_answer,
    okta_table,
    ropc_table,
)
from tests.connectors.scripted_idp import Reply, ScriptedIdp
from tests.peers.okta_users import totp, wrong_totp


# -- the second factor ---------------------------------------------------------------------------
def mfa_challenge(connector, identifier=HATTER, password=HATTER_PASSWORD) -> MfaRequired:
    with pytest.raises(MfaRequired) as challenge:
        connector.verify(identifier, password)
    return challenge.value


def test_totp_mfa_is_finished_with_the_users_code(app, okta, caplog):
    caplog.set_level(logging.DEBUG)
    connector = build_connector(app, okta_table(okta))
    challenge = mfa_challenge(connector)
    assert challenge.factor == "totp"  # preferred over the push factor listed first
    assert json.loads(json.dumps(challenge.state)) == challenge.state
    assert challenge.state["verify_url"] == f"{okta.url}/api/v1/authn/factors/ostftotp0HATTER/verify"

    code = totp(okta.totp_secret(HATTER))
    identity = connector.finish_mfa(challenge.state, code)

    assert identity.subject == okta.user(HATTER).id
    [verify] = okta.calls("/api/v1/authn/factors/ostftotp0HATTER/verify")
    assert verify["json"] == {"stateToken": challenge.state["state_token"], "passCode": code}
    logged = log_text(caplog.records)
    for secret in (HATTER_PASSWORD, code, challenge.state["state_token"]):
        assert secret not in logged


def test_a_wrong_or_replayed_code_asks_again(app, okta):
    connector = build_connector(app, okta_table(okta))
    secret = okta.totp_secret(HATTER)
    challenge = mfa_challenge(connector)
    with pytest.raises(InvalidCredentials):
        connector.complete_mfa(challenge.state, wrong_totp(secret))
    code = totp(secret)
    assert connector.complete_mfa(challenge.state, code).subject == okta.user(HATTER).id

    again = mfa_challenge(connector)
    with pytest.raises(InvalidCredentials):  # "Each code can only be used once"
        connector.complete_mfa(again.state, code)


def test_an_expired_or_finished_transaction_is_unavailable(app, okta):
    connector = build_connector(app, okta_table(okta))
    challenge = mfa_challenge(connector)
    okta.expire_transactions()
    with pytest.raises(LegacyUnavailable) as expired:
        connector.complete_mfa(challenge.state, totp(okta.totp_secret(HATTER)))
    assert "E0000011" in expired.value.reason


def test_sms_mfa_has_okta_send_the_code_first(app, okta):
    connector = build_connector(app, okta_table(okta))
    challenge = mfa_challenge(connector, QUEEN, QUEEN_PASSWORD)
    assert challenge.factor == "sms"
    sent = okta.outbox[QUEEN]
    assert okta.calls("/api/v1/authn/factors/smsfactor0QUEEN/verify")[0]["json"] == {
        "stateToken": challenge.state["state_token"]}  # no passCode: "send me a code"

    with pytest.raises(InvalidCredentials):
        connector.complete_mfa(challenge.state, f"{(int(sent) + 1) % 1_000_000:06d}")
    assert connector.complete_mfa(challenge.state, sent).subject == okta.user(QUEEN).id


def test_a_verify_link_to_another_host_is_never_followed(app, scripted_idp):
    with ScriptedIdp() as elsewhere:
        scripted_idp.routes["/api/v1/authn"] = mfa_answer(
            elsewhere.url("/api/v1/authn/factors/ostf1/verify"))
        connector = build_connector(app, okta_table(scripted_idp))
        with pytest.raises(LegacyUnavailable) as down:
            connector.verify(HATTER, HATTER_PASSWORD)
        assert "verify link" in down.value.reason

        forged = {"state_token": "00state",
                  "verify_url": elsewhere.url("/api/v1/authn/factors/ostf1/verify")}
        with pytest.raises(LegacyUnavailable):
            connector.complete_mfa(forged, "123456")
        assert elsewhere.requests == []


@pytest.mark.parametrize(("url", "accepted"), [
    ("https://acme.okta.com/api/v1/authn/factors/ostf1/verify", True),
    ("https://acme.okta.com:443/api/v1/authn/factors/ostf1/verify", True),
    ("https://ACME.okta.com/api/v1/authn/factors/ostf1/verify", True),
    ("http://acme.okta.com/api/v1/authn/factors/ostf1/verify", False),
    ("https://acme.okta.com:8443/api/v1/authn/factors/ostf1/verify", False),
    ("https://acme.okta.com.evil.example/api/v1/authn/factors/ostf1/verify", False),
    ("https://user@acme.okta.com/api/v1/authn/factors/ostf1/verify", False),
    ("https://acme.okta.com/api/v1/authn/factors/../../users/me/verify", False),
    ("https://acme.okta.com/api/v1/users/00u1/factors/ostf1/verify", False),
    ("https://acme.okta.com/api/v1/authn/factors/ostf1/verify?next=x", False),
    ("https://acme.okta.com:99999/api/v1/authn/factors/ostf1/verify", False),
])
def test_which_verify_links_count_as_the_org(app, url, accepted):
    connector = build_connector(app, {"type": "okta", "org_url": "https://acme.okta.com"})
    assert connector._on_org(url) is accepted


@pytest.mark.parametrize(("reply", "outcome", "reason"), [
    pytest.param(Reply(403, {"errorCode": "E0000068", "errorSummary": "Invalid Passcode/Answer"}),
                 InvalidCredentials, None, id="E0000068-wrong-code"),
    pytest.param(Reply(200, {"status": "MFA_CHALLENGE", "factorResult": "PASSCODE_REPLAYED"}),
                 InvalidCredentials, None, id="passcode-replayed"),
    pytest.param(Reply(403, {"errorCode": "E0000069", "errorSummary": "User Locked"}),
                 AccountBlocked, "locked", id="E0000069-locked-during-mfa"),
    pytest.param(Reply(200, {"status": "LOCKED_OUT"}), AccountBlocked, "locked",
                 id="locked-out-after-mfa"),
    pytest.param(Reply(200, {"status": "PASSWORD_EXPIRED", "stateToken": "00s"}), AccountBlocked,
                 "password_expired", id="password-expired-after-mfa"),
    pytest.param(Reply(200, {"status": "MFA_REQUIRED", "stateToken": "00s"}), LegacyUnavailable,
                 "MFA_REQUIRED", id="another-factor-after-mfa"),
    pytest.param(Reply(401, {"errorCode": "E0000011", "errorSummary": "Invalid token provided"}),
                 LegacyUnavailable, "E0000011", id="E0000011-expired"),
    pytest.param(Reply(500, "<html>oops</html>", "text/html"), LegacyUnavailable, "500", id="500"),
    pytest.param(Reply(200, "<html>Sign in</html>", "text/html"), LegacyUnavailable, "not JSON",
                 id="html"),
    pytest.param(Reply(200, {"status": "SUCCESS"}), LegacyUnavailable, "_embedded.user",
                 id="success-without-user"),
    pytest.param(Reply(429, {"errorCode": "E0000047"}), LegacyUnavailable, "429", id="429"),
])
def test_how_the_factor_answer_is_read(app, scripted_idp, reply, outcome, reason):
    href = scripted_idp.url("/api/v1/authn/factors/ostf1/verify")
    scripted_idp.routes["/api/v1/authn"] = mfa_answer(href)
    scripted_idp.routes["/api/v1/authn/factors/ostf1/verify"] = reply
    connector = build_connector(app, okta_table(scripted_idp))
    challenge = mfa_challenge(connector)

    with pytest.raises(outcome) as raised:
        connector.complete_mfa(challenge.state, "123456")
    if reason:
        assert reason in raised.value.reason


def test_per_user_answers_never_open_the_circuit_breaker(app, okta):
    connector = build_connector(app, okta_table(okta, breaker_failures=1))
    challenge = mfa_challenge(connector)
    okta.expire_transactions()
    with pytest.raises(LegacyUnavailable):
        connector.finish_mfa(challenge.state, totp(okta.totp_secret(HATTER)))
    ropc = build_connector(app, ropc_table(okta, breaker_failures=1))
    with pytest.raises(LegacyUnavailable):
        ropc.check_password(HATTER, HATTER_PASSWORD)  # a policy wants MFA for this user
    assert connector.guard.state == ropc.guard.state == "closed"
    assert connector.check_password(ALICE, ALICE_PASSWORD).subject == okta.user(ALICE).id

    okta.rate_limited = True  # Okta's own rate limit is an outage: the breaker opens
    with pytest.raises(LegacyUnavailable):
        connector.check_password(ALICE, ALICE_PASSWORD)
    assert connector.guard.state == "open"


def test_a_failing_sms_send_is_unavailable(app, scripted_idp):
    href = scripted_idp.url("/api/v1/authn/factors/sms1/verify")
    scripted_idp.routes["/api/v1/authn"] = Reply(200, {"stateToken": "00s", "status": "MFA_REQUIRED",
        "_embedded": {"factors": [{"id": "sms1", "factorType": "sms",
                                   "_links": {"verify": {"href": href}}}]}})
    scripted_idp.routes["/api/v1/authn/factors/sms1/verify"] = Reply(
        429, {"errorCode": "E0000109", "errorSummary": "An SMS message was recently sent."})
    with pytest.raises(LegacyUnavailable):
        build_connector(app, okta_table(scripted_idp)).verify(QUEEN, QUEEN_PASSWORD)
