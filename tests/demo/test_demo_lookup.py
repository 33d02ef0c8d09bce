"""The demo legacy IDP's user lookup: ``GET /api/users?email=`` behind a client-credentials token.

It is the endpoint the demo's ``lookup_url`` names, so it must behave as a real IdP's admin API:
only the client's own token with ``users.read`` reads users, a user's token never does.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from demo import legacy_idp

CLIENT = ("ferry", "demo-legacy-secret")
CAROL = "carol@example.com"


@pytest.fixture(scope="module")
def idp_app() -> Flask:
    return legacy_idp.create_app()


@pytest.fixture
def idp(idp_app: Flask) -> FlaskClient:
    return idp_app.test_client()


def client_token(idp: FlaskClient, **form: str) -> dict:
    response = idp.post("/oauth/token", data={"grant_type": "client_credentials", **form}, auth=CLIENT)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def look_up(idp: FlaskClient, email: str | None, token: str):
    query = {"email": email} if email is not None else {}
    return idp.get("/api/users", query_string=query, headers={"Authorization": f"Bearer {token}"})


def test_the_client_credentials_grant_gives_the_lookup_scope(idp: FlaskClient) -> None:
    token = client_token(idp)
    assert token["scope"] == "users.read"
    assert token["expires_in"] == 3600 and token["token_type"] == "Bearer"
    assert "refresh_token" not in token
    assert client_token(idp, scope="users.read")["scope"] == "users.read"


def test_a_user_is_found_with_the_claims_userinfo_answers(idp: FlaskClient) -> None:
    response = look_up(idp, "  Carol@Example.COM ", client_token(idp)["access_token"])

    assert response.status_code == 200
    claims = response.get_json()
    assert claims == {"sub": "legacy-1003", "email": CAROL, "email_verified": True,
                      "given_name": "Carol", "family_name": "King", "name": "Carol King"}
    password = idp.post("/oauth/token", auth=CLIENT, data={
        "grant_type": "password", "username": CAROL, "password": "carol-singer-42",
        "scope": "openid email profile"}).get_json()["access_token"]
    userinfo = idp.get("/userinfo", headers={"Authorization": f"Bearer {password}"}).get_json()
    assert userinfo == claims  # the same sub: a later password sign-in is the same user


def test_an_unknown_address_is_404_not_found(idp: FlaskClient) -> None:
    response = look_up(idp, "mallory@example.com", client_token(idp)["access_token"])
    assert (response.status_code, response.get_json()) == (404, {"error": "not_found"})


def test_no_address_is_a_bad_request(idp: FlaskClient) -> None:
    response = look_up(idp, None, client_token(idp)["access_token"])
    assert (response.status_code, response.get_json()["error"]) == (400, "invalid_request")


def test_a_users_token_cannot_look_anyone_up(idp: FlaskClient) -> None:
    token = idp.post("/oauth/token", auth=CLIENT, data={
        "grant_type": "password", "username": CAROL, "password": "carol-singer-42",
        "scope": "openid email profile"}).get_json()["access_token"]

    response = look_up(idp, "alice@example.com", token)

    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"


def test_a_user_token_is_never_granted_the_lookup_scope(idp: FlaskClient) -> None:
    response = idp.post("/oauth/token", auth=CLIENT, data={
        "grant_type": "password", "username": CAROL, "password": "carol-singer-42",
        "scope": "openid users.read"})
    assert (response.status_code, response.get_json()["error"]) == (400, "invalid_scope")


def test_the_client_token_is_for_the_lookup_only(idp: FlaskClient) -> None:
    response = idp.post("/oauth/token", auth=CLIENT,
                        data={"grant_type": "client_credentials", "scope": "openid email"})
    assert (response.status_code, response.get_json()["error"]) == (400, "invalid_scope")
    token = client_token(idp)["access_token"]
    assert idp.get("/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code == 401


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token-we-issued"}],
                         ids=["no-token", "unknown-token"])
def test_without_a_valid_token_the_lookup_is_401(idp: FlaskClient, headers: dict) -> None:
    response = idp.get("/api/users", query_string={"email": CAROL}, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert CAROL not in response.get_data(as_text=True)


def test_a_wrong_client_secret_gets_no_token(idp: FlaskClient) -> None:
    response = idp.post("/oauth/token", auth=("ferry", "not-the-secret"),
                        data={"grant_type": "client_credentials"})
    assert (response.status_code, response.get_json()["error"]) == (401, "invalid_client")


def test_the_home_page_counts_lookups() -> None:
    idp = legacy_idp.create_app().test_client()  # a fresh IDP: counts start at zero
    token = client_token(idp)["access_token"]
    look_up(idp, CAROL, token)
    look_up(idp, CAROL, token)

    page = idp.get("/").get_data(as_text=True)

    assert "GET /api/users?email=" in page
    row = page[page.index(f"<td>{CAROL}</td>"):]
    assert row[:row.index("</tr>")].rstrip().endswith("<td>2</td>")
