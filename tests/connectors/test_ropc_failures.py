"""The ``ropc`` connector when the legacy IDP misbehaves: always "unavailable", never the user's fault.

A :class:`ScriptedIdp` on loopback plays the legacy IDP. For every way it can fail, the connector
raises :class:`LegacyUnavailable`, and through the whole sign-in the user gets the "try again
later" page: no error page, no local user, nothing counted against the identifier, nothing
secret logged. Wrong passwords, in contrast, are counted, and the throttled attempt never
reaches the legacy IDP.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from connectors import LegacyUnavailable
from models import AuditEvent, db
from tests.accounts import count_users
from tests.conftest import deployment
from tests.connectors.conftest import (
    THROTTLED,
    UNAVAILABLE,
    WRONG_CREDENTIALS,
    page_text,
    retry_after,
    sign_in_attempts,
)
from tests.connectors.contract import build_connector, log_text
from tests.connectors.scripted_idp import TLS_HANDSHAKE, Reply, ScriptedIdp, closed_port_url

ALICE, PASSWORD = "alice@example.com", "correct horse battery staple"
CLIENT_ID = "ferry"
PROFILE = {"sub": "legacy-42", "email": "Alice@Example.com", "email_verified": True,
           "given_name": "Alice", "family_name": "Liddell"}
TOKEN = {"access_token": "stub-access-token", "token_type": "Bearer", "expires_in": 3600}
SIGNING_KEY = ECKey.generate_key("P-256", parameters={"kid": "legacy-1"})
OTHER_KEY = ECKey.generate_key("P-256", parameters={"kid": "legacy-1"})  # same kid, other key
JWKS = {"keys": [SIGNING_KEY.as_dict(private=False)]}


def signed_id_token(claims: dict, key: ECKey = SIGNING_KEY) -> str:
    return jwt.encode({"alg": "ES256", "kid": "legacy-1"}, claims, key)


def unsigned_id_token(payload: object, raw: str | None = None) -> str:
    """A JWS-shaped token with any JSON payload (read unverified when no jwks_uri is set)."""
    def part(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()
    body = json.dumps(payload) if raw is None else raw
    return f"{part(json.dumps({'alg': 'RS256'}))}.{part(body)}.c2lnbmF0dXJl"


def token_with(**extra) -> Reply:
    return Reply(200, {**TOKEN, **extra})


@dataclass(frozen=True)
class Failure:
    """How the scripted IDP misbehaves, and what the operator's reason must mention."""

    reason: str
    routes: dict[str, Reply] = field(default_factory=dict)
    settings: Callable[[ScriptedIdp], dict] = lambda idp: {}
    reaches: str | None = "/token"  # where each attempt is seen arriving (None: nowhere)


WITHOUT_USERINFO = {"userinfo_url": None}

FAILURES = {
    "token-hangs": Failure("timed out", {"/token": Reply(hang=True)}),
    "token-200-html": Failure(
        "not JSON", {"/token": Reply(200, "<html><body>Sign in</body></html>", "text/html")}),
    "token-500": Failure("500", {"/token": Reply(500, {"error": "server_error"})}),
    "token-502-html": Failure(
        "502", {"/token": Reply(502, "<html><h1>502 Bad Gateway</h1></html>", "text/html")}),
    "token-429": Failure(
        "429", {"/token": Reply(429, {"error": "slow_down"}, headers={"Retry-After": "60"})}),
    "token-302-to-a-login-page": Failure(
        "302", {"/token": Reply(302, "", "text/html", headers={"Location": "/login"})}),
    "token-without-access-token": Failure("access_token", {"/token": Reply(200, {"scope": "x"})}),
    "token-access-token-not-a-string": Failure(
        "access_token", {"/token": token_with(access_token=["a", "b"])}),
    "token-json-list": Failure("not an object", {"/token": Reply(200, [TOKEN])}),
    "token-invalid-json": Failure("not JSON", {"/token": Reply(200, '{"access_token": "x",')}),
    "token-deeply-nested-json": Failure(
        "not JSON", {"/token": Reply(200, "[" * 100_000 + "]" * 100_000)}),
    "token-401-invalid-client": Failure(
        "invalid_client", {"/token": Reply(401, {"error": "invalid_client"},
                                           headers={"WWW-Authenticate": 'Basic realm="legacy"'})}),
    "token-400-unauthorized-client": Failure(
        "unauthorized_client", {"/token": Reply(400, {"error": "unauthorized_client"})}),
    "userinfo-500": Failure(
        "userinfo", {"/userinfo": Reply(500, "Internal Server Error", "text/plain")},
        reaches="/userinfo"),
    "userinfo-without-sub": Failure(
        "'sub'", {"/userinfo": Reply(200, {k: v for k, v in PROFILE.items() if k != "sub"})},
        reaches="/userinfo"),
    "userinfo-sub-differs-from-id-token": Failure(
        "sub", {"/token": token_with(id_token=unsigned_id_token({**PROFILE, "sub": "someone"}))},
        reaches="/userinfo"),
    "id-token-garbage": Failure(
        "id_token", {"/token": token_with(id_token="garbage")},
        settings=lambda idp: WITHOUT_USERINFO),
    "id-token-payload-not-an-object": Failure(
        "id_token", {"/token": token_with(id_token=unsigned_id_token(["sub", "legacy-42"]))},
        settings=lambda idp: WITHOUT_USERINFO),
    "id-token-payload-nested-too-deep": Failure(
        "id_token", {"/token": token_with(id_token=unsigned_id_token(None, "[" * 5000 + "]" * 5000))},
        settings=lambda idp: WITHOUT_USERINFO),
    "id-token-signed-by-another-key": Failure(
        "id_token", {"/token": token_with(id_token=signed_id_token(
            {**PROFILE, "aud": CLIENT_ID}, OTHER_KEY)), "/jwks": Reply(200, JWKS)},
        settings=lambda idp: {**WITHOUT_USERINFO, "jwks_uri": idp.url("/jwks")}),
    "id-token-for-another-client": Failure(
        "id_token", {"/token": token_with(id_token=signed_id_token(
            {**PROFILE, "aud": "another-app"})), "/jwks": Reply(200, JWKS)},
        settings=lambda idp: {**WITHOUT_USERINFO, "jwks_uri": idp.url("/jwks")}),
    "jwks-without-keys": Failure(
        "keys", {"/token": token_with(id_token=signed_id_token({**PROFILE, "aud": CLIENT_ID})),
                 "/jwks": Reply(200, {"error": "not_found"})},
        settings=lambda idp: {**WITHOUT_USERINFO, "jwks_uri": idp.url("/jwks")}),
    "connection-refused": Failure(
        "connect", settings=lambda idp: {"token_url": closed_port_url()}, reaches=None),
    "tls-failure": Failure(
        "TLS", settings=lambda idp: {"token_url": idp.url("/token").replace("http:", "https:")},
        reaches=TLS_HANDSHAKE),
}


def scripted_connector(idp: ScriptedIdp, **settings) -> dict:
    table = {
        "type": "ropc", "token_url": idp.url("/token"), "userinfo_url": idp.url("/userinfo"),
        "client_id": CLIENT_ID, "client_secret": "stub-client-secret",
        "connect_timeout": 0.5, "read_timeout": 0.5, **settings,
    }
    return {key: value for key, value in table.items() if value is not None}


@pytest.fixture
def good_idp(scripted_idp):
    """The scripted IDP answering like a healthy legacy IDP; a test then breaks one part."""
    scripted_idp.routes.update({"/token": token_with(), "/userinfo": Reply(200, PROFILE)})
    return scripted_idp


@pytest.fixture(params=list(FAILURES), ids=list(FAILURES))
def failing(request, good_idp):
    """(the scripted IDP misbehaving one way, the connector table aimed at it, the failure)."""
    failure = FAILURES[request.param]
    good_idp.routes.update(failure.routes)
    return good_idp, scripted_connector(good_idp, **failure.settings(good_idp)), failure


def test_the_scripted_idp_passes_for_a_healthy_legacy_idp(app, make_app, good_idp):
    """The control: without a failure the same setup signs in, so the failures below are real."""
    identity = build_connector(app, scripted_connector(good_idp)).verify(ALICE, PASSWORD)
    assert (identity.subject, identity.claims["family_name"]) == ("legacy-42", "Liddell")

    ferry = make_app(DEPLOYMENT=deployment({"legacy": scripted_connector(good_idp)}))
    [answer] = sign_in_attempts(ferry, ALICE, PASSWORD, times=1)
    assert answer.status_code == 303 and "code=" in answer.headers["Location"]
    assert count_users(ferry) == 1


@pytest.mark.parametrize("settings", [
    pytest.param({"userinfo_url": None, "jwks_uri": "/jwks"}, id="verified-id-token"),
    pytest.param({"userinfo_url": None}, id="unverified-id-token"),
    pytest.param({}, id="id-token-and-userinfo"),
])
def test_claims_from_a_good_id_token_are_used(app, good_idp, settings):
    """The control for the ID-token failures: a proper ID token does sign the user in."""
    if "jwks_uri" in settings:
        settings = {**settings, "jwks_uri": good_idp.url("/jwks")}
    good_idp.routes["/jwks"] = Reply(200, JWKS)
    good_idp.routes["/token"] = token_with(
        id_token=signed_id_token({**PROFILE, "aud": CLIENT_ID, "nickname": "ally"}))

    identity = build_connector(app, scripted_connector(good_idp, **settings)).verify(ALICE, PASSWORD)

    assert identity.subject == "legacy-42" and identity.claims["nickname"] == "ally"


def test_the_connector_says_unavailable(app, failing):
    idp, table, failure = failing
    with pytest.raises(LegacyUnavailable) as unavailable:
        build_connector(app, table).verify(ALICE, PASSWORD)
    assert failure.reason in unavailable.value.reason
    if failure.reaches:
        assert len(idp.calls(failure.reaches)) == 1


def test_the_user_is_told_to_try_later_and_nothing_changes(make_app, failing, caplog):
    idp, table, failure = failing
    caplog.set_level(logging.DEBUG)
    ferry = make_app(DEPLOYMENT=deployment({"legacy": table}),
                     FAILED_SIGNINS_PER_IDENTIFIER="2 per 15 minutes")

    answers = sign_in_attempts(ferry, ALICE, PASSWORD, times=3)  # more than the limit allows

    for answer in answers:
        assert answer.status_code == 200
        assert UNAVAILABLE in page_text(answer)
    if failure.reaches:
        assert len(idp.calls(failure.reaches)) == 3, "an attempt never reached the legacy IDP"
    assert count_users(ferry) == 0
    assert retry_after(ferry, ALICE) == 0, "an outage counted against the user"
    assert PASSWORD not in log_text(caplog.records)


def test_wrong_passwords_count_and_the_throttled_one_never_reaches_the_legacy_idp(
        make_app, scripted_idp, dot):
    # The scripted IDP relays to the real password-grant server, counting the calls.
    scripted_idp.routes["/token"] = ScriptedIdp.forward_to(dot.token_url)
    table = {"type": "ropc", "token_url": scripted_idp.url("/token"),
             "userinfo_url": dot.userinfo_url, "client_id": dot.client_id,
             "client_secret": dot.client_secret}
    ferry = make_app(DEPLOYMENT=deployment({"legacy": table}),
                     FAILED_SIGNINS_PER_IDENTIFIER="2 per 15 minutes")

    answers = sign_in_attempts(ferry, ALICE, "not-alices-password", times=3)

    pages = [page_text(answer) for answer in answers]
    assert WRONG_CREDENTIALS in pages[0] and WRONG_CREDENTIALS in pages[1]
    assert THROTTLED in pages[2] and WRONG_CREDENTIALS not in pages[2]
    assert len(scripted_idp.calls("/token")) == 2
    assert retry_after(ferry, ALICE) > 0
    assert count_users(ferry) == 0


def test_the_audit_log_records_why_and_never_the_password(make_app, good_idp):
    wrong = "not the password"
    ferry = make_app(DEPLOYMENT=deployment({"legacy": scripted_connector(good_idp)}))
    good_idp.routes["/token"] = Reply(503, "<h1>Service Unavailable</h1>", "text/html")
    [down] = sign_in_attempts(ferry, ALICE, PASSWORD, times=1)
    good_idp.routes["/token"] = Reply(400, {"error": "invalid_grant"})
    [refused] = sign_in_attempts(ferry, ALICE, wrong, times=1)
    good_idp.routes["/token"] = token_with()
    [migrated] = sign_in_attempts(ferry, ALICE, PASSWORD, times=1)
    assert UNAVAILABLE in page_text(down) and WRONG_CREDENTIALS in page_text(refused)
    assert migrated.status_code == 303

    with ferry.app_context(), db.connection_context():
        events = list(AuditEvent.select().order_by(AuditEvent.id).dicts())
    [unavailable] = [e for e in events if e["event"] == "legacy.unavailable"]
    assert unavailable["connector"] == "legacy" and unavailable["client_id"] == "test-app"
    assert "503" in unavailable["details"]["reason"]
    names = {e["event"] for e in events}
    assert {"legacy.refused", "legacy.verified", "user.migrated"} <= names
    everything = json.dumps(events, default=str)
    assert PASSWORD not in everything and wrong not in everything
