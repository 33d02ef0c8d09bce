"""The OpenID Provider endpoints, driven like an app and a browser would, good and bad input."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.accounts import create_local_user
from tests.conftest import APP_REDIRECT, SPA_REDIRECT, SignIn, is_sign_in_page

EMAIL, PASSWORD = "carol@example.com", "correct horse battery"


@pytest.fixture
def user(app):
    return create_local_user(app, EMAIL, PASSWORD)


def test_discovery_and_jwks_describe_the_provider(client):
    meta = client.get("/.well-known/openid-configuration").get_json()
    assert meta["issuer"] == "http://localhost"
    assert meta["authorization_endpoint"] == "http://localhost/authorize"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    keys = client.get("/.well-known/jwks.json").get_json()["keys"]
    assert keys and all("d" not in key for key in keys), "a private key part was published"
    assert keys[0]["kty"] == "RSA" and keys[0]["use"] == "sig"


def test_code_flow_issues_a_verifiable_id_token(client, user):
    walker = SignIn(client)
    tokens = walker.tokens(EMAIL, PASSWORD)
    claims = walker.id_token_claims(tokens["id_token"])
    assert claims["sub"] == user and claims["email"] == EMAIL
    assert claims["amr"] == ["pwd"] and "auth_time" in claims
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200 and info.get_json()["email"] == EMAIL


def test_authorize_response_names_the_issuer(client, user):
    response = SignIn(client).sign_in(EMAIL, PASSWORD)
    assert parse_qs(urlsplit(response.headers["Location"]).query)["iss"] == ["http://localhost"]


@pytest.mark.parametrize("redirect_uri", [
    APP_REDIRECT + "/", APP_REDIRECT[:-1], APP_REDIRECT.replace("localhost", "localhost.evil.com"),
    APP_REDIRECT + "?next=x", "https://evil.example/callback",
])
def test_a_redirect_uri_that_differs_is_never_redirected_to(client, redirect_uri):
    response = SignIn(client, redirect_uri=redirect_uri).authorize()
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "not valid" in response.get_data(as_text=True)


def test_unknown_client_gets_a_page_not_a_redirect(client):
    response = SignIn(client, client_id="nobody").authorize()
    assert response.status_code == 400 and "Location" not in response.headers


def test_errors_after_the_redirect_uri_is_verified_go_back_to_the_app(client):
    response = SignIn(client).authorize(response_type="token")
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert response.headers["Location"].startswith(APP_REDIRECT)
    assert query["error"] == ["unsupported_response_type"]


def test_public_clients_must_use_pkce_s256(client):
    walker = SignIn(client, client_id="spa", redirect_uri=SPA_REDIRECT, client_secret=None)
    for overrides in ({"code_challenge": None, "code_challenge_method": None},
                      {"code_challenge_method": "plain"}):
        response = walker.authorize(**overrides)
        query = parse_qs(urlsplit(response.headers["Location"]).query)
        assert query["error"] == ["invalid_request"], overrides


def test_public_client_signs_in_with_pkce(client, user):
    walker = SignIn(client, client_id="spa", redirect_uri=SPA_REDIRECT, client_secret=None)
    assert "id_token" in walker.tokens(EMAIL, PASSWORD)


def test_a_code_works_once_and_its_replay_revokes_the_tokens(client, user):
    walker = SignIn(client)
    code = walker.code_from(walker.sign_in(EMAIL, PASSWORD))
    first = walker.exchange(code)
    assert first.status_code == 200
    second = walker.exchange(code)
    assert second.status_code == 400 and second.get_json()["error"] == "invalid_grant"
    bearer = {"Authorization": f"Bearer {first.get_json()['access_token']}"}
    assert client.get("/userinfo", headers=bearer).status_code == 401


def test_a_code_works_once_on_every_database(make_app, database_url):
    app = make_app(database_url)
    test_a_code_works_once_and_its_replay_revokes_the_tokens(
        app.test_client(), create_local_user(app, EMAIL, PASSWORD))


def test_without_update_returning_a_code_still_works_once(client, user, monkeypatch):
    """SQLite before 3.35 has no RETURNING: the claimed code is read back by a SELECT."""
    import provider.codes as server_module

    monkeypatch.setattr(server_module, "supports_returning", lambda: False)
    test_a_code_works_once_and_its_replay_revokes_the_tokens(client, user)


def test_a_code_sent_twice_at_once_is_redeemed_once(app, user):
    walker = SignIn(app.test_client())
    code = walker.code_from(walker.sign_in(EMAIL, PASSWORD))
    start, answers = threading.Barrier(2), []

    def exchange():
        racer = SignIn(app.test_client())
        racer.verifier = walker.verifier
        start.wait()
        answers.append(racer.exchange(code).status_code)

    racers = [threading.Thread(target=exchange) for _ in range(2)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert sorted(answers) == [200, 400]


@pytest.mark.parametrize("overrides, error", [
    ({"code_verifier": "x" * 50}, "invalid_grant"),
    ({"code_verifier": None}, "invalid_request"),
    ({"redirect_uri": APP_REDIRECT + "x"}, "invalid_grant"),
    ({"code": "not-a-code"}, "invalid_grant"),
])
def test_token_exchange_refuses_bad_requests(client, user, overrides, error):
    walker = SignIn(client)
    code = walker.code_from(walker.sign_in(EMAIL, PASSWORD))
    overrides = dict(overrides)
    response = walker.exchange(overrides.pop("code", code), **overrides)
    assert response.status_code == 400 and response.get_json()["error"] == error


def test_wrong_client_secret_is_refused(client, user):
    walker = SignIn(client)
    code = walker.code_from(walker.sign_in(EMAIL, PASSWORD))
    walker.client_secret = "wrong-secret-0123456789"
    response = walker.exchange(code)
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"


def test_expired_code_is_refused(make_app, monkeypatch):
    app = make_app(CODE_TTL=10)
    create_local_user(app, EMAIL, PASSWORD)
    walker = SignIn(app.test_client())
    code = walker.code_from(walker.sign_in(EMAIL, PASSWORD))
    from datetime import timedelta

    import provider.codes as server_module
    real_now = server_module.utcnow
    monkeypatch.setattr(server_module, "utcnow", lambda: real_now() + timedelta(seconds=11))
    assert walker.exchange(code).get_json()["error"] == "invalid_grant"


def test_single_sign_on_and_prompt_login(client, user):
    walker = SignIn(client)
    walker.tokens(EMAIL, PASSWORD)
    again = walker.authorize()
    assert again.headers["Location"].startswith(APP_REDIRECT), "a signed-in user signs in again"
    forced = walker.authorize(prompt="login")
    assert forced.status_code == 200 and is_sign_in_page(forced), "prompt=login reused the session"


def test_prompt_none_without_a_session_answers_login_required(client):
    response = SignIn(client).authorize(prompt="none")
    assert parse_qs(urlsplit(response.headers["Location"]).query)["error"] == ["login_required"]


def test_logout_with_id_token_hint_returns_to_the_app(client, user):
    walker = SignIn(client)
    tokens = walker.tokens(EMAIL, PASSWORD)
    response = client.get("/logout", query_string={
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "http://localhost:8000/",
        "state": "s1"})
    assert response.headers["Location"] == "http://localhost:8000/?state=s1"
    assert is_sign_in_page(walker.authorize()), "still signed in"


def test_logout_without_hint_asks_and_needs_csrf(client, user):
    walker = SignIn(client)
    walker.tokens(EMAIL, PASSWORD)
    page = client.get("/logout")
    assert page.status_code == 200 and "Sign out?" in page.get_data(as_text=True)
    forged = client.post("/logout", data={"confirm": "yes"})
    assert "Sign out?" in forged.get_data(as_text=True)
    assert walker.authorize().headers["Location"].startswith(APP_REDIRECT), "forged post signed out"


def test_logout_refuses_an_unregistered_post_logout_uri(client, user):
    walker = SignIn(client)
    tokens = walker.tokens(EMAIL, PASSWORD)
    response = client.get("/logout", query_string={
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://evil.example/"})
    assert "Location" not in response.headers


def test_userinfo_needs_a_valid_token(client):
    assert client.get("/userinfo").status_code == 401
    bad = client.get("/userinfo", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.get_json()["error"] == "invalid_token"
