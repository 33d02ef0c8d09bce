"""The token endpoint: refresh tokens (offline_access, consent, rotation, reuse, lifetimes) and
every client authentication method, with the refusals the specifications name."""

from __future__ import annotations

import base64
import secrets
import time
from datetime import timedelta

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from models import RefreshToken, db
from tests.accounts import create_local_user
from tests.conftest import APP_SECRET, SPA_REDIRECT, form_fields, is_sign_in_page
from tests.provider.apps import (
    EMAIL,
    OFFLINE_REDIRECT,
    PASSWORD,
    provider_deployment,
    query,
    walker,
)

APP_KEY = ECKey.generate_key("P-256", auto_kid=True)
OTHER_KEY = ECKey.generate_key("P-256", auto_kid=True)
JWT_SECRET = "a-long-shared-secret-for-hmac-0123456789"


def apps() -> dict:
    return provider_deployment(**{
        "post-app": {"client_secret": APP_SECRET, "redirect_uris": [OFFLINE_REDIRECT],
                     "token_endpoint_auth_method": "client_secret_post"},
        "jwt-app": {"client_secret": JWT_SECRET, "redirect_uris": [OFFLINE_REDIRECT],
                    "token_endpoint_auth_method": "client_secret_jwt"},
        "key-app": {"redirect_uris": [OFFLINE_REDIRECT], "token_endpoint_auth_method": "private_key_jwt",
                    "jwks": {"keys": [APP_KEY.as_dict(private=False)]}},
    })


@pytest.fixture
def app(make_app):
    built = make_app(DEPLOYMENT=apps())
    create_local_user(built, EMAIL, PASSWORD)
    return built


def offline_sign_in(client) -> tuple[object, dict]:
    """Sign in to ``offline`` asking for offline_access with prompt=consent, and allow it."""
    walk = walker(client, "offline")
    walk.start(scope="openid email offline_access", prompt="consent")
    consent = walk.post(identifier=EMAIL, password=PASSWORD)
    assert consent.headers["Location"].startswith("/authorize/consent"), consent.headers.get("Location")
    page = client.get(consent.headers["Location"])
    body = page.get_data(as_text=True)
    assert "Allow" in body and "Deny" in body and "Stay signed in" in body
    allowed = client.post("/authorize/consent", data={**form_fields(body), "decision": "allow"})
    tokens = walk.exchange(walk.code_from(allowed)).get_json()
    return walk, tokens


def refresh(walk, token: str, **extra):
    return walk.exchange(None, grant_type="refresh_token", refresh_token=token, redirect_uri=None,
                         code_verifier=None, **extra)


def test_offline_access_with_consent_gives_a_refresh_token_that_rotates(client):
    walk, tokens = offline_sign_in(client)
    assert "refresh_token" in tokens and "offline_access" in tokens["scope"].split()
    first = refresh(walk, tokens["refresh_token"])
    assert first.status_code == 200, first.get_json()
    rotated = first.get_json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    bearer = {"Authorization": f"Bearer {rotated['access_token']}"}
    assert client.get("/userinfo", headers=bearer).get_json()["email"] == EMAIL


def test_a_reused_refresh_token_is_refused_and_kills_the_family(client):
    walk, tokens = offline_sign_in(client)
    newest = refresh(walk, tokens["refresh_token"]).get_json()
    replay = refresh(walk, tokens["refresh_token"])
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    assert refresh(walk, newest["refresh_token"]).get_json()["error"] == "invalid_grant"
    bearer = {"Authorization": f"Bearer {newest['access_token']}"}
    assert client.get("/userinfo", headers=bearer).status_code == 401


def test_refresh_tokens_are_stored_hashed(app, client):
    _walk, tokens = offline_sign_in(client)
    with app.app_context(), db.connection_context():
        stored = [row.token_hash for row in RefreshToken.select()]
    assert stored and tokens["refresh_token"] not in stored


def test_offline_access_without_prompt_consent_is_dropped(client):
    walk = walker(client, "offline")
    tokens = walk.exchange(walk.code_from(walk.sign_in(EMAIL, PASSWORD, scope="openid offline_access")))
    assert "refresh_token" not in tokens.get_json() and "offline_access" not in tokens.get_json()["scope"]


def test_a_remembered_offline_consent_needs_no_second_page(client):
    offline_sign_in(client)
    again = walker(client, "offline")
    tokens = again.exchange(again.code_from(again.authorize(scope="openid offline_access"))).get_json()
    assert "refresh_token" in tokens


def test_denying_consent_returns_access_denied(client):
    walk = walker(client, "offline")
    walk.start(scope="openid offline_access", prompt="consent")
    page = client.get(walk.post(identifier=EMAIL, password=PASSWORD).headers["Location"])
    denied = client.post("/authorize/consent", data={**form_fields(page.get_data(as_text=True)),
                                                     "decision": "deny"})
    answer = query(denied)
    assert answer["error"] == "access_denied" and answer["state"] == walk.state and answer["iss"]


def test_a_consent_form_without_csrf_or_for_another_session_is_refused(app, client):
    walk = walker(client, "offline")
    walk.start(scope="openid offline_access", prompt="consent")
    page = client.get(walk.post(identifier=EMAIL, password=PASSWORD).headers["Location"])
    fields = form_fields(page.get_data(as_text=True))
    assert client.post("/authorize/consent", data={"request": fields["request"],
                                                   "decision": "allow"}).status_code == 400
    stranger = app.test_client()
    assert stranger.get("/authorize/consent", query_string={"request": fields["request"]}).status_code == 400


def test_an_app_without_the_refresh_grant_cannot_refresh(client):
    walk, tokens = offline_sign_in(client)
    other = walker(client)
    response = refresh(other, tokens["refresh_token"])
    assert response.status_code == 400 and response.get_json()["error"] == "unauthorized_client"


def test_an_idle_refresh_token_dies(app, client, monkeypatch):
    walk, tokens = offline_sign_in(client)
    import provider.refresh as refresh_module

    later = refresh_module.utcnow() + timedelta(seconds=app.config["REFRESH_TOKEN_IDLE_TTL"] + 1)
    monkeypatch.setattr(refresh_module, "utcnow", lambda: later)
    assert refresh(walk, tokens["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_rotation_never_extends_the_absolute_lifetime(app, client):
    walk, tokens = offline_sign_in(client)
    rotated = refresh(walk, tokens["refresh_token"]).get_json()
    with app.app_context(), db.connection_context():
        rows = list(RefreshToken.select().order_by(RefreshToken.created_at))
    assert len({row.absolute_expires_at for row in rows}) == 1 and len(rows) == 2
    assert rotated["refresh_token"]


def test_signing_out_kills_the_sessions_refresh_tokens(client):
    walk, tokens = offline_sign_in(client)
    csrf = form_fields(client.get("/").get_data(as_text=True))["csrf_token"]
    client.post("/signout", data={"csrf_token": csrf})
    assert refresh(walk, tokens["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_a_disabled_user_cannot_refresh(app, client):
    walk, tokens = offline_sign_in(client)
    from models import User

    with app.app_context(), db.connection_context():
        User.update(status="disabled").execute()
    assert refresh(walk, tokens["refresh_token"]).status_code == 400


def test_refresh_can_narrow_but_not_widen_the_scope(client):
    walk, tokens = offline_sign_in(client)
    narrowed = refresh(walk, tokens["refresh_token"], scope="openid").get_json()
    assert narrowed["scope"] == "openid"
    widened = refresh(walk, narrowed["refresh_token"], scope="openid email profile")
    assert widened.get_json()["error"] == "invalid_scope"


# -- client authentication -----------------------------------------------------------------
def code_for(client, app_id: str) -> tuple[object, str]:
    walk = walker(client, "offline")
    walk.client_id, walk.client_secret = app_id, None
    answer = walk.authorize()
    if answer.status_code != 200:  # signed in already: single sign-on
        return walk, walk.code_from(answer)
    assert is_sign_in_page(answer), answer.get_data(as_text=True)[:500]
    return walk, walk.code_from(walk.post(identifier=EMAIL, password=PASSWORD))


def token_request(client, walk, code, **data):
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": walk.redirect_uri,
            "code_verifier": walk.verifier, **data}
    return client.post("/token", data=body)


def assertion(app_id: str, key, alg: str, **claims) -> str:
    now = int(time.time())
    payload = {"iss": app_id, "sub": app_id, "aud": "http://localhost/token", "iat": now,
               "exp": now + 60, "jti": secrets.token_urlsafe(12), **claims}
    return jwt.encode({"alg": alg}, payload, key)


ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def test_client_secret_post(client):
    walk, code = code_for(client, "post-app")
    ok = token_request(client, walk, code, client_id="post-app", client_secret=APP_SECRET)
    assert ok.status_code == 200 and "id_token" in ok.get_json()


def test_an_app_is_held_to_its_own_method(client):
    walk, code = code_for(client, "post-app")
    basic = base64.b64encode(f"post-app:{APP_SECRET}".encode()).decode()
    response = client.post("/token", headers={"Authorization": f"Basic {basic}"}, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": walk.redirect_uri,
        "code_verifier": walk.verifier})
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"


def test_client_secret_jwt(client):
    walk, code = code_for(client, "jwt-app")
    signed = assertion("jwt-app", OctKey.import_key(JWT_SECRET), "HS256")
    ok = token_request(client, walk, code, client_assertion_type=ASSERTION_TYPE, client_assertion=signed)
    assert ok.status_code == 200, ok.get_json()


def test_private_key_jwt_and_a_replayed_jti(client):
    walk, code = code_for(client, "key-app")
    signed = assertion("key-app", APP_KEY, "ES256")
    ok = token_request(client, walk, code, client_assertion_type=ASSERTION_TYPE, client_assertion=signed)
    assert ok.status_code == 200, ok.get_json()
    walk2, code2 = code_for(client, "key-app")
    replay = token_request(client, walk2, code2, client_assertion_type=ASSERTION_TYPE,
                           client_assertion=signed)
    assert replay.status_code in (400, 401) and replay.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize("make", [
    pytest.param(lambda: assertion("key-app", OTHER_KEY, "ES256"), id="another key"),
    pytest.param(lambda: assertion("key-app", APP_KEY, "ES256", aud="https://elsewhere.example/token"),
                 id="another audience"),
    pytest.param(lambda: assertion("key-app", APP_KEY, "ES256", exp=int(time.time()) - 120), id="expired"),
    pytest.param(lambda: assertion("key-app", APP_KEY, "ES256", exp=int(time.time()) + 86400),
                 id="lives a day"),
    pytest.param(lambda: assertion("key-app", APP_KEY, "ES256", iss="jwt-app"), id="iss is not sub"),
    pytest.param(lambda: assertion("key-app", OctKey.import_key(JWT_SECRET), "HS256"),
                 id="HMAC for a key app"),
    pytest.param(lambda: "not.a.jwt", id="garbage"),
])
def test_bad_client_assertions_are_refused(client, make):
    walk, code = code_for(client, "key-app")
    response = token_request(client, walk, code, client_assertion_type=ASSERTION_TYPE,
                             client_assertion=make())
    assert response.status_code in (400, 401) and response.get_json()["error"] == "invalid_client"


def test_a_jwks_with_a_private_key_is_refused_at_start(make_app):
    from settings.errors import ConfigError

    private = RSAKey.generate_key(2048).as_dict(private=True)
    tables = provider_deployment(bad={"redirect_uris": [OFFLINE_REDIRECT], "jwks": {"keys": [private]},
                                      "token_endpoint_auth_method": "private_key_jwt"})
    with pytest.raises(ConfigError, match="private"):
        make_app(DEPLOYMENT=tables)


def test_a_public_client_cannot_send_a_secret_or_skip_pkce(client):
    spa = walker(client, "spa")
    code = spa.code_from(spa.sign_in(EMAIL, PASSWORD))
    no_pkce = client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                          "redirect_uri": SPA_REDIRECT, "client_id": "spa"})
    assert no_pkce.status_code == 400
