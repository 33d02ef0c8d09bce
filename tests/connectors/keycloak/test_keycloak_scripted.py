"""The ``keycloak`` connector against Keycloak as documented, on a scripted server: what the direct
grant carries, Keycloak's error bodies, blocked accounts, misbehaving servers and transport
failures, and the realm's signed ID token."""

from __future__ import annotations

import pytest
from joserfc import jwt

from connectors import AccountBlocked, InvalidCredentials, LegacyUnavailable
from tests.accounts import count_users
from tests.conftest import deployment
from tests.connectors.conftest import (
    UNAVAILABLE,
    WRONG_CREDENTIALS,
    page_text,
    retry_after,
    sign_in_attempts,
)
from tests.connectors.contract import build_connector
from tests.connectors.keycloak.realm import (
    ALICE,
    OIDC,
    OTHER_KEY,
    REALM,
    SIGNING_KEY,
    ScriptedKeycloak,
    keycloak_error,
)
from tests.connectors.scripted_idp import (
    TLS_HANDSHAKE,
    Reply,
    closed_port_url,
)


# -- Keycloak as documented, on a scripted server ------------------------------------------------
def test_what_the_direct_grant_carries(app, scripted_keycloak):
    connector = build_connector(app, scripted_keycloak.table())
    identity = connector.verify(ALICE, "alice-pass-1")

    [token] = scripted_keycloak.idp.calls(f"{OIDC}/token")
    assert token.form() == {"grant_type": "password", "username": ALICE, "password": "alice-pass-1",
                            "scope": "openid email profile", "client_id": "ferry",
                            "client_secret": "ferry-secret"}
    assert "Authorization" not in token.headers
    assert identity.subject == scripted_keycloak.users[ALICE]["sub"]
    assert identity.claims["preferred_username"] == ALICE  # userinfo, over the ID token


KEYCLOAK_ERRORS = {  # answer -> (Keycloak's reply, what Ferry raises, its reason)
    "wrong-password": (keycloak_error(401, "invalid_grant", "Invalid user credentials"),
                       InvalidCredentials, None),
    "unknown-user": (keycloak_error(400, "invalid_grant", "Invalid user credentials"),
                     InvalidCredentials, None),
    "disabled": (keycloak_error(400, "invalid_grant", "Account disabled"), AccountBlocked, "disabled"),
    "brute-force-lockout": (keycloak_error(400, "invalid_grant", "Account temporarily disabled"),
                            AccountBlocked, "locked"),
    "required-actions-pending": (keycloak_error(400, "invalid_grant", "Account is not fully set up"),
                                 AccountBlocked, "password_change_required"),
    "invalid-client": (keycloak_error(401, "invalid_client", "Invalid client or Invalid client credentials"),
                       LegacyUnavailable, "invalid_client"),
    "direct-grant-not-allowed": (
        keycloak_error(400, "unauthorized_client", "Client not allowed for direct access grants"),
        LegacyUnavailable, "Client not allowed for direct access grants"),
    "invalid-scope": (keycloak_error(400, "invalid_scope", "Invalid scopes: openid x"),
                      LegacyUnavailable, "invalid_scope"),
    "realm-does-not-exist": (keycloak_error(404, "Realm does not exist", "Realm does not exist"),
                             LegacyUnavailable, "Realm does not exist"),
}


@pytest.mark.parametrize("answer", list(KEYCLOAK_ERRORS), ids=list(KEYCLOAK_ERRORS))
def test_keycloaks_error_bodies_are_mapped(app, scripted_keycloak, answer):
    reply, expected, detail = KEYCLOAK_ERRORS[answer]
    scripted_keycloak.idp.routes[f"{OIDC}/token"] = reply
    with pytest.raises(expected) as raised:
        build_connector(app, scripted_keycloak.table()).verify(ALICE, "alice-pass-1")
    if expected is InvalidCredentials:
        assert type(raised.value) is InvalidCredentials and str(raised.value) == ""
    elif expected is AccountBlocked:
        assert raised.value.reason == detail
    else:
        assert detail in raised.value.reason


@pytest.mark.parametrize(("description", "notice"), [
    ("Account disabled", "Your account is disabled"),
    ("Account temporarily disabled", "Your account is locked"),
    ("Account is not fully set up", "You need to choose a new password"),
])
def test_a_blocked_account_is_told_why_and_not_migrated(make_app, scripted_keycloak, description, notice):
    scripted_keycloak.idp.routes[f"{OIDC}/token"] = keycloak_error(400, "invalid_grant", description)
    app = make_app(DEPLOYMENT=deployment({"corp-keycloak": scripted_keycloak.table()}))

    [answer] = sign_in_attempts(app, ALICE, "alice-pass-1", times=1)

    assert answer.status_code == 200
    assert notice in page_text(answer) and WRONG_CREDENTIALS not in page_text(answer)
    assert count_users(app) == 0


FAILURES = {
    "token-500": ({f"{OIDC}/token": Reply(500, {"error": "unknown_error"})}, "500"),
    "token-502-html": ({f"{OIDC}/token": Reply(502, "<html><h1>Bad Gateway</h1></html>", "text/html")},
                       "502"),
    "token-200-html": ({f"{OIDC}/token": Reply(200, "<html><body>Sign in to acme</body></html>",
                                               "text/html")}, "not JSON"),
    "token-hangs": ({f"{OIDC}/token": Reply(hang=True)}, "timed out"),
    "token-without-access-token": ({f"{OIDC}/token": Reply(200, {"token_type": "Bearer"})},
                                   "access_token"),
    "userinfo-500": ({f"{OIDC}/userinfo": Reply(500, "Internal Server Error", "text/plain")},
                     "userinfo"),
    "userinfo-without-sub": ({f"{OIDC}/userinfo": Reply(200, {"email": ALICE})}, "sub"),
    "userinfo-html": ({f"{OIDC}/userinfo": Reply(200, "<html></html>", "text/html")}, "not JSON"),
    "certs-without-keys": ({f"{OIDC}/certs": Reply(200, {"error": "nope"})}, "keys"),
}


@pytest.mark.parametrize("failure", list(FAILURES), ids=list(FAILURES))
def test_a_misbehaving_keycloak_is_unavailable_never_the_users_fault(
        app, make_app, scripted_keycloak, failure):
    routes, reason = FAILURES[failure]
    scripted_keycloak.idp.routes.update(routes)
    table = scripted_keycloak.table()
    with pytest.raises(LegacyUnavailable) as unavailable:
        build_connector(app, table).verify(ALICE, "alice-pass-1")
    assert reason in unavailable.value.reason

    app = make_app(DEPLOYMENT=deployment({"corp-keycloak": table}),
                   FAILED_SIGNINS_PER_IDENTIFIER="2 per 15 minutes")
    answers = sign_in_attempts(app, ALICE, "alice-pass-1", times=3)
    assert all(UNAVAILABLE in page_text(a) for a in answers)
    assert count_users(app) == 0 and retry_after(app, ALICE) == 0


@pytest.mark.parametrize("where", ["connection-refused", "tls-failure"])
def test_transport_failures_are_unavailable(app, scripted_keycloak, where):
    base = (closed_port_url("") if where == "connection-refused"
            else scripted_keycloak.idp.base_url.replace("http:", "https:"))
    with pytest.raises(LegacyUnavailable) as unavailable:
        build_connector(app, scripted_keycloak.table(base_url=base)).verify(ALICE, "alice-pass-1")
    assert ("connect" if where == "connection-refused" else "TLS") in unavailable.value.reason
    if where == "tls-failure":
        assert len(scripted_keycloak.idp.calls(TLS_HANDSHAKE)) == 1


def test_extra_fields_in_keycloaks_answers_are_ignored_and_extra_claims_kept(app, scripted_keycloak):
    keycloak_userinfo = scripted_keycloak.userinfo

    def userinfo_with_extras(request):
        reply = keycloak_userinfo(request)
        return Reply(200, {**reply.body, "realm_access": {"roles": ["staff"]}, "locale": "de"})

    scripted_keycloak.idp.routes[f"{OIDC}/userinfo"] = userinfo_with_extras
    identity = build_connector(app, scripted_keycloak.table()).verify(ALICE, "alice-pass-1")
    assert identity.claims["realm_access"] == {"roles": ["staff"]} and identity.claims["locale"] == "de"


# -- the realm's signed ID token ------------------------------------------------------------------
def test_the_id_token_is_verified_with_the_realms_keys(app, scripted_keycloak):
    connector = build_connector(app, scripted_keycloak.table(use_userinfo=False))
    identity = connector.verify(ALICE, "alice-pass-1")
    assert identity.subject == scripted_keycloak.users[ALICE]["sub"]
    assert identity.claims["iss"] == scripted_keycloak.idp.url(f"/realms/{REALM}")
    assert len(scripted_keycloak.idp.calls(f"{OIDC}/certs")) == 1
    assert not scripted_keycloak.idp.calls(f"{OIDC}/userinfo")


@pytest.mark.parametrize(("issuer", "key", "reason"), [
    pytest.param("https://sso.example.com/realms/acme", SIGNING_KEY, "'iss'", id="another-issuer"),
    pytest.param(None, OTHER_KEY, "ID token refused", id="signed-by-another-key"),
])
def test_an_id_token_that_fails_a_check_is_refused(app, scripted_idp, issuer, key, reason):
    keycloak = ScriptedKeycloak(scripted_idp, issuer=issuer, key=key)
    with pytest.raises(LegacyUnavailable) as refused:
        build_connector(app, keycloak.table(use_userinfo=False)).verify(ALICE, "alice-pass-1")
    assert reason in refused.value.reason


def test_an_id_token_for_another_client_is_refused(app, scripted_keycloak):
    keycloak_token = scripted_keycloak.token

    def token_for_another_audience(request):
        reply = keycloak_token(request)
        claims = jwt.decode(reply.body["id_token"], SIGNING_KEY).claims
        other = jwt.encode({"alg": "RS256", "kid": "realm-key-1"}, {**claims, "aud": "other-app"},
                           SIGNING_KEY)
        return Reply(200, {**reply.body, "id_token": other})

    scripted_keycloak.idp.routes[f"{OIDC}/token"] = token_for_another_audience
    with pytest.raises(LegacyUnavailable) as refused:
        build_connector(app, scripted_keycloak.table()).verify(ALICE, "alice-pass-1")
    assert "'aud'" in refused.value.reason


def test_issuer_setting_for_a_keycloak_with_another_public_hostname(app, scripted_idp):
    keycloak = ScriptedKeycloak(scripted_idp, issuer="https://sso.example.com/realms/acme")
    table = keycloak.table(use_userinfo=False, issuer="https://sso.example.com/realms/acme")
    assert build_connector(app, table).verify(ALICE, "alice-pass-1").subject == keycloak.users[ALICE]["sub"]
