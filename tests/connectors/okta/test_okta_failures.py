"""The ``okta`` connector's settings checked at start-up, and an Okta that misbehaves (the failure
modes no real Okta produces on demand, played by a :class:`ScriptedIdp`): always unavailable, never
the user's fault."""

from __future__ import annotations

import pytest

from connectors import (
    LegacyUnavailable,
)
from settings.errors import ConfigError
from tests.connectors.contract import (
    build_connector,
    log_text,
)
from tests.connectors.okta.org import ALICE, ALICE_PASSWORD, okta_table
from tests.connectors.scripted_idp import TLS_HANDSHAKE, Reply, closed_port_url


# -- settings ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("settings", "message"), [
    ({"org_url": "http://acme.okta.com"}, "must use https"),
    ({"org_url": "acme.okta.com"}, "https URL"),
    ({"org_url": "https://acme.okta.com/oauth2/default"}, "no path"),
    ({"org_url": "https://acme-admin.okta.com"}, "admin console"),
    ({"mode": "ropc"}, "needs client_id"),
    ({"client_id": "0oa1"}, 'only with mode = "ropc"'),
    ({"mode": "ropc", "client_id": "0oa1", "authorization_server_id": "../v1"}, "pattern"),
    ({"mode": "saml"}, "mode"),
    ({"api_key": "x"}, "unknown setting"),
])
def test_settings_are_checked_at_start_up(app, settings, message):
    with pytest.raises(ConfigError) as invalid:
        build_connector(app, {"type": "okta", "org_url": "https://acme.okta.com", **settings})
    assert message in str(invalid.value)


def test_the_org_url_is_normalised(app):
    connector = build_connector(app, {"type": "okta", "org_url": "https://Acme.Okta.com/"})
    assert connector.settings.org_url == "https://acme.okta.com"


# -- when Okta misbehaves ------------------------------------------------------------------------
SUCCESS_USER = {"id": "00u1", "profile": {"login": ALICE}}
FAILURES = {
    "html-200": (Reply(200, "<html><body>Sign in</body></html>", "text/html"), "not JSON"),
    "500": (Reply(500, {"errorCode": "E0000009", "errorSummary": "Internal Server Error"}), "500"),
    "502-html": (Reply(502, "<h1>Bad Gateway</h1>", "text/html"), "502"),
    "429-rate-limit": (Reply(429, {"errorCode": "E0000047"}, headers={"X-Rate-Limit-Remaining": "0"}),
                       "429"),
    "302-to-a-login-page": (Reply(302, "", "text/html", headers={"Location": "/login"}), "302"),
    "json-list": (Reply(200, [{"status": "SUCCESS"}]), "not an object"),
    "invalid-json": (Reply(200, '{"status": "SUCCESS",'), "not JSON"),
    "success-without-embedded": (Reply(200, {"status": "SUCCESS", "sessionToken": "s"}), "_embedded"),
    "success-user-without-id": (Reply(200, {"status": "SUCCESS", "_embedded": {"user": {
        "profile": {"login": ALICE}}}}), "_embedded.user"),
    "success-profile-not-an-object": (Reply(200, {"status": "SUCCESS", "_embedded": {"user": {
        "id": "00u1", "profile": "alice"}}}), "_embedded.user"),
    "unknown-status": (Reply(200, {"status": "UNAUTHENTICATED"}), "UNAUTHENTICATED"),
    "no-status": (Reply(200, {"_embedded": {"user": SUCCESS_USER}}), "None"),
    "mfa-without-state-token": (Reply(200, {"status": "MFA_REQUIRED", "_embedded": {
        "factors": []}}), "stateToken"),
    "mfa-factors-not-a-list": (Reply(200, {"status": "MFA_REQUIRED", "stateToken": "00s",
                                           "_embedded": {"factors": {"id": "x"}}}), "factors"),
    "mfa-totp-without-verify-link": (Reply(200, {"status": "MFA_REQUIRED", "stateToken": "00s",
        "_embedded": {"factors": [{"factorType": "token:software:totp"}]}}), "verify link"),
    "400-E0000001": (Reply(400, {"errorCode": "E0000001", "errorSummary": "Api validation failed"}),
                     "E0000001"),
    "403-E0000006": (Reply(403, {"errorCode": "E0000006", "errorSummary": "You do not have "
                                 "permission to perform the requested action"}), "E0000006"),
    "401-E0000011": (Reply(401, {"errorCode": "E0000011", "errorSummary": "Invalid token provided"}),
                     "E0000011"),
    "401-without-error-code": (Reply(401, {"message": "Unauthorized"}), "401"),
    "hang": (Reply(hang=True), "timed out"),
}


@pytest.mark.parametrize("name", list(FAILURES))
def test_a_misbehaving_okta_is_unavailable(app, scripted_idp, name, caplog):
    reply, reason = FAILURES[name]
    scripted_idp.routes["/api/v1/authn"] = reply
    connector = build_connector(app, okta_table(scripted_idp, read_timeout=0.5))
    with pytest.raises(LegacyUnavailable) as down:
        connector.check_password(ALICE, ALICE_PASSWORD)
    assert reason in down.value.reason
    assert len(scripted_idp.calls("/api/v1/authn")) == 1
    assert ALICE_PASSWORD not in log_text(caplog.records)


def test_connection_refused_and_tls_failure_are_unavailable(app, scripted_idp):
    refused = build_connector(app, okta_table(scripted_idp, org_url=closed_port_url("")))
    with pytest.raises(LegacyUnavailable) as down:
        refused.verify(ALICE, ALICE_PASSWORD)
    assert "connect" in down.value.reason

    tls = build_connector(app, okta_table(scripted_idp, org_url=scripted_idp.base_url.replace(
        "http:", "https:")))
    with pytest.raises(LegacyUnavailable) as down:
        tls.verify(ALICE, ALICE_PASSWORD)
    assert "TLS" in down.value.reason
    assert scripted_idp.calls(TLS_HANDSHAKE)
