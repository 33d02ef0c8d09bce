"""Revocation, introspection, userinfo by scope, logout with a hint for someone else, consent
withdrawn on the account page, and a discovery document that says only what is true."""

from __future__ import annotations

import base64

import pytest

from models import User, db
from tests.accounts import create_local_user
from tests.conftest import APP_SECRET, form_fields, is_sign_in_page
from tests.provider.apps import EMAIL, PASSWORD, provider_deployment, walker
from tests.provider.test_tokens import offline_sign_in, refresh


@pytest.fixture
def app(make_app):
    built = make_app(DEPLOYMENT=provider_deployment())
    create_local_user(built, EMAIL, PASSWORD)
    return built


def basic(client_id: str, secret: str = APP_SECRET) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_revoking_an_access_token(client):
    tokens = walker(client).tokens(EMAIL, PASSWORD)
    response = client.post("/revoke", headers=basic("test-app"), data={"token": tokens["access_token"]})
    assert response.status_code == 200
    assert client.get("/userinfo", headers=bearer(tokens["access_token"])).status_code == 401


def test_revoking_a_refresh_token_kills_its_family(client):
    walk, tokens = offline_sign_in(client)
    response = client.post("/revoke", headers=basic("offline"),
                           data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"})
    assert response.status_code == 200
    assert refresh(walk, tokens["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert client.get("/userinfo", headers=bearer(tokens["access_token"])).status_code == 401


def test_an_app_cannot_revoke_another_apps_token(client):
    tokens = walker(client).tokens(EMAIL, PASSWORD)
    response = client.post("/revoke", headers=basic("offline"), data={"token": tokens["access_token"]})
    assert response.status_code == 400
    assert client.get("/userinfo", headers=bearer(tokens["access_token"])).status_code == 200


def test_revoking_an_unknown_token_is_fine_and_a_bad_secret_is_not(client):
    assert client.post("/revoke", headers=basic("test-app"), data={"token": "nope"}).status_code == 200
    refused = client.post("/revoke", headers=basic("test-app", "wrong-secret-0123456"), data={"token": "x"})
    assert refused.status_code == 401


def test_introspection_of_own_tokens(client):
    tokens = walker(client).tokens(EMAIL, PASSWORD)
    answer = client.post("/introspect", headers=basic("test-app"), data={"token": tokens["access_token"]})
    body = answer.get_json()
    assert body["active"] is True and body["client_id"] == "test-app" and body["iss"] == "http://localhost"
    assert "openid" in body["scope"].split() and body["exp"] > body["iat"]
    assert client.post("/introspect", headers=basic("offline"),
                       data={"token": tokens["access_token"]}).get_json() == {"active": False}
    client.post("/revoke", headers=basic("test-app"), data={"token": tokens["access_token"]})
    assert client.post("/introspect", headers=basic("test-app"),
                       data={"token": tokens["access_token"]}).get_json() == {"active": False}


def test_introspection_of_a_refresh_token_and_after_rotation(client):
    walk, tokens = offline_sign_in(client)
    assert client.post("/introspect", headers=basic("offline"),
                       data={"token": tokens["refresh_token"]}).get_json()["active"] is True
    refresh(walk, tokens["refresh_token"])
    assert client.post("/introspect", headers=basic("offline"),
                       data={"token": tokens["refresh_token"]}).get_json() == {"active": False}


def test_public_clients_cannot_introspect(client):
    response = client.post("/introspect", data={"client_id": "spa", "token": "x"})
    assert response.status_code in (400, 401) and response.get_json()["error"] == "invalid_client"


def test_userinfo_releases_claims_by_scope_including_custom_scopes(app, client):
    with app.app_context(), db.connection_context():
        User.update(attributes={"employee_id": "E-42", "secret_note": "never"}, phone="+15550100").execute()
    walk = walker(client)
    narrow = walk.exchange(walk.code_from(walk.sign_in(EMAIL, PASSWORD, scope="openid"))).get_json()
    assert client.get("/userinfo", headers=bearer(narrow["access_token"])).get_json().keys() == {"sub"}
    wide = walker(client)
    tokens = wide.exchange(wide.code_from(wide.authorize(scope="openid email phone employee"))).get_json()
    info = client.get("/userinfo", headers=bearer(tokens["access_token"])).get_json()
    assert info["email"] == EMAIL and info["phone_number"] == "+15550100"
    assert info["employee_id"] == "E-42" and "secret_note" not in info and "given_name" not in info
    assert wide.id_token_claims(tokens["id_token"])["employee_id"] == "E-42"


def test_a_custom_scope_another_app_did_not_declare_is_dropped(client):
    walk = walker(client, "offline")
    tokens = walk.exchange(walk.code_from(walk.sign_in(EMAIL, PASSWORD, scope="openid employee"))).get_json()
    assert tokens["scope"] == "openid"


def test_logout_with_a_hint_for_another_user_asks_first(app, client):
    create_local_user(app, "erin@example.com", PASSWORD)
    erin_token = walker(app.test_client()).tokens("erin@example.com", PASSWORD)["id_token"]
    walker(client).tokens(EMAIL, PASSWORD)
    page = client.get("/logout", query_string={"id_token_hint": erin_token,
                                                "post_logout_redirect_uri": "http://localhost:8000/"})
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "Sign out?" in body and EMAIL in body
    assert "Location" not in page.headers
    assert "code=" in walker(client).authorize().headers["Location"], "someone was signed out"
    confirmed = client.post(f"/logout?id_token_hint={erin_token}&post_logout_redirect_uri=http://localhost:8000/",
                            data={"csrf_token": form_fields(body)["csrf_token"], "confirm": "yes"})
    assert confirmed.headers["Location"] == "http://localhost:8000/"
    assert is_sign_in_page(walker(client).authorize()), "nobody is signed in any more"


def test_withdrawing_consent_on_the_account_page(client):
    walk, tokens = offline_sign_in(client)
    page = client.get("/").get_data(as_text=True)
    assert "Offline app, allowed" in page
    response = client.post("/consents/offline/withdraw", data={"csrf_token": form_fields(page)["csrf_token"]})
    assert response.status_code == 303
    assert refresh(walk, tokens["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert "Offline app, allowed" not in client.get("/").get_data(as_text=True)
    assert client.post("/consents/offline/withdraw",
                       data={"csrf_token": form_fields(page)["csrf_token"]}).status_code == 404


def test_discovery_advertises_what_is_implemented(client):
    meta = client.get("/.well-known/openid-configuration").get_json()
    assert set(meta["grant_types_supported"]) == {"authorization_code", "refresh_token"}
    assert set(meta["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"}
    # "create": the sign-up journey ships (apps may still turn it off with signup = false).
    assert set(meta["prompt_values_supported"]) == {"none", "login", "consent", "select_account",
                                                    "create"}
    assert {"auth_time", "amr", "acr", "sid", "email", "nonce"} <= set(meta["claims_supported"])
    assert "offline_access" in meta["scopes_supported"]
    assert meta["acr_values_supported"] == ["urn:ferry:acr:sfa", "urn:ferry:acr:mfa", "phr"]
    assert meta["ui_locales_supported"] == ["de", "en", "es", "fr"]
    assert meta["request_parameter_supported"] is False and meta["request_uri_parameter_supported"] is False
    assert meta["backchannel_logout_supported"] is True
    assert meta["authorization_response_iss_parameter_supported"] is True
    for endpoint in ("revocation_endpoint", "introspection_endpoint", "end_session_endpoint",
                     "userinfo_endpoint"):
        path = meta[endpoint].removeprefix("http://localhost")
        assert client.post(path).status_code != 404, endpoint


def test_discovery_offers_create_once_a_sign_up_journey_exists(make_app):
    done = {"type": "reject", "title": "t", "message": "m"}
    journeys = {"sign-up": {"start": "done", "steps": {"done": done}}}
    app = make_app(DEPLOYMENT=provider_deployment() | {"journeys": journeys})
    meta = app.test_client().get("/.well-known/openid-configuration").get_json()
    assert "create" in meta["prompt_values_supported"]
    response = walker(app.test_client()).authorize(prompt="create")
    assert response.status_code == 200  # the sign-up journey's first page, its one step
    assert '<p class="ferry-text">m</p>' in response.get_data(as_text=True)
