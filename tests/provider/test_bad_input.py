"""Hostile and malformed input at the provider's endpoints: each answers per the specification
or with a clear page, never a 500, and nothing is issued."""

from __future__ import annotations

import base64

import pytest

from tests.accounts import create_local_user
from tests.conftest import APP_REDIRECT
from tests.provider.apps import EMAIL, PASSWORD, provider_deployment, query, walker


@pytest.fixture
def app(make_app):
    built = make_app(DEPLOYMENT=provider_deployment())
    create_local_user(built, EMAIL, PASSWORD)
    return built


def test_a_nul_in_client_id_is_an_unknown_client_on_every_database(make_app, database_url):
    app = make_app(database_url, DEPLOYMENT=provider_deployment())
    client = app.test_client()
    page = walker(client).authorize(client_id="test-app\x00")
    assert page.status_code == 400 and "Location" not in page.headers
    token = client.post("/token", data={"grant_type": "authorization_code", "code": "x",
                                        "client_id": "test\x00app"})
    assert token.status_code in (400, 401) and token.get_json()["error"] == "invalid_client"
    revoke = client.post("/revoke", data={"client_id": "a\x00", "token": "t\x00"})
    assert revoke.status_code in (400, 401) and revoke.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize("header", [
    "Basic " + base64.b64encode(b"\xff\xfe:\xfa").decode(),  # base64, not UTF-8
    "Basic !!!not-base64!!!",
    "Basic",
])
def test_a_basic_header_that_is_not_base64_utf8_is_invalid_client(client, header):
    response = client.post("/token", headers={"Authorization": header},
                           data={"grant_type": "authorization_code", "code": "x"})
    assert response.status_code in (400, 401) and response.get_json()["error"] == "invalid_client"


def test_a_very_long_host_label_is_a_plain_400(client):
    for path in ("/", "/authorize?client_id=test-app", "/.well-known/openid-configuration"):
        response = client.get(path, headers={"Host": "a" * 80 + ".example.com"})
        assert response.status_code == 400, path


@pytest.mark.parametrize("field, value", [("nonce", "abc\x00def"), ("nonce", "line\nbreak"),
                                          ("nonce", "x" * 300)])
def test_a_nonce_with_control_characters_is_refused_back_to_the_app(client, field, value):
    answer = query(walker(client).authorize(**{field: value}))
    assert answer["error"] == "invalid_request" and answer["iss"] == "http://localhost"


@pytest.mark.parametrize("redirect_uri", [
    APP_REDIRECT + "\x00", APP_REDIRECT + "\r\nSet-Cookie: x=1", APP_REDIRECT.upper(),
    APP_REDIRECT.replace("8000", "8001"), APP_REDIRECT.replace("http://localhost", "http://LOCALHOST"),
])
def test_a_redirect_uri_that_differs_in_any_way_is_a_page(client, redirect_uri):
    response = walker(client).authorize(redirect_uri=redirect_uri)
    assert response.status_code == 400 and "Location" not in response.headers


def test_plain_or_missing_pkce_for_a_public_client(client):
    spa = walker(client, "spa")
    assert query(spa.authorize(code_challenge_method="plain"))["error"] == "invalid_request"
    assert query(spa.authorize(code_challenge=None, code_challenge_method=None))["error"] == "invalid_request"


def test_an_unknown_grant_type_and_a_missing_one(client):
    walk = walker(client)
    assert walk.exchange("x", grant_type="password").get_json()["error"] == "unsupported_grant_type"
    assert walk.exchange("x", grant_type=None).get_json()["error"] in ("unsupported_grant_type",
                                                                       "invalid_request")


def test_a_garbage_bearer_token_at_userinfo(client):
    for header in ("Bearer " + "x" * 5000, "Bearer \x00", "Basic abc", "Bearer"):
        response = client.get("/userinfo", headers={"Authorization": header})
        assert response.status_code in (400, 401), header


def test_logout_with_a_garbage_hint_is_a_page(client):
    response = client.get("/logout", query_string={"id_token_hint": "garbage.\x00.x"})
    assert response.status_code == 400 and "Location" not in response.headers
