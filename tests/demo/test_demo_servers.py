"""The demo servers that ``make run`` starts, driven through their Flask test clients.

The legacy IDP must behave like a real OAuth 2.0 password-grant server (RFC 6749 / 6750), since
Ferry's ``ropc`` connector is exercised against it; the demo app must sign in through discovery,
PKCE and a nonce, and show Ferry's errors instead of failing.
"""

from __future__ import annotations

import re
import socket
import time
import tomllib
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from demo import client_app, legacy_idp
from demo.run import TEMPLATE, DemoError, Ports, render_config

CLIENT = ("ferry", "demo-legacy-secret")
ALICE = {"username": "alice@example.com", "password": "wonderland-1865"}
FERRY = "http://ferry.test"
DISCOVERY = {
    "issuer": FERRY,
    "authorization_endpoint": f"{FERRY}/authorize",
    "token_endpoint": f"{FERRY}/token",
    "jwks_uri": f"{FERRY}/jwks",
    "end_session_endpoint": f"{FERRY}/logout",
}


# -- legacy IDP ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def idp_app() -> Flask:
    # Module scope: building the IDP hashes four passwords with argon2 (~50 ms each).
    return legacy_idp.create_app()


@pytest.fixture
def idp(idp_app: Flask) -> FlaskClient:
    return idp_app.test_client()


def password_grant(idp: FlaskClient, auth: tuple[str, str] | None = CLIENT, **form: str):
    return idp.post(
        "/oauth/token",
        data={"grant_type": "password", "scope": "openid email profile", **form},
        auth=auth,
    )


def test_password_grant_issues_a_bearer_token_that_reads_userinfo(idp: FlaskClient) -> None:
    response = password_grant(idp, **ALICE)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    token = response.get_json()
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert token["scope"] == "openid email profile"

    userinfo = idp.get("/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert userinfo.status_code == 200
    assert userinfo.get_json() == {
        "sub": "legacy-1001",
        "email": "alice@example.com",
        "email_verified": True,
        "given_name": "Alice",
        "family_name": "Liddell",
        "name": "Alice Liddell",
    }


def test_username_is_trimmed_and_lower_cased(idp: FlaskClient) -> None:
    response = password_grant(idp, username="  Bob@Example.COM ", password="builder-1999")

    assert response.status_code == 200
    bearer = {"Authorization": f"Bearer {response.get_json()['access_token']}"}
    assert idp.get("/userinfo", headers=bearer).get_json()["email"] == "bob@example.com"


def test_client_secret_post_is_accepted(idp: FlaskClient) -> None:
    response = password_grant(idp, auth=None, client_id=CLIENT[0], client_secret=CLIENT[1], **ALICE)

    assert response.status_code == 200
    assert response.get_json()["access_token"]


def test_wrong_password_and_unknown_user_get_the_same_invalid_grant(idp: FlaskClient) -> None:
    wrong_password = password_grant(idp, username="alice@example.com", password="looking-glass")
    unknown_user = password_grant(idp, username="mallory@example.com", password="looking-glass")

    assert wrong_password.status_code == unknown_user.status_code == 400
    assert wrong_password.get_json()["error"] == "invalid_grant"
    # No user enumeration: the two answers are byte for byte the same.
    assert wrong_password.get_data() == unknown_user.get_data()


def test_a_password_is_not_case_folded(idp: FlaskClient) -> None:
    response = password_grant(idp, username="carol@example.com", password="CAROL-SINGER-42")

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


@pytest.mark.parametrize("method", ["basic", "post"])
def test_wrong_client_secret_is_invalid_client(idp: FlaskClient, method: str) -> None:
    if method == "basic":
        response = password_grant(idp, auth=("ferry", "not-the-secret"), **ALICE)
    else:
        response = password_grant(
            idp, auth=None, client_id="ferry", client_secret="not-the-secret", **ALICE
        )

    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert "access_token" not in response.get_json()
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


def test_token_request_without_client_authentication_is_refused(idp: FlaskClient) -> None:
    response = password_grant(idp, auth=None, **ALICE)

    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_missing_password_is_invalid_request(idp: FlaskClient) -> None:
    response = password_grant(idp, username="alice@example.com")

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_userinfo_without_a_token_asks_for_a_bearer_token(idp: FlaskClient) -> None:
    response = idp.get("/userinfo")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert b"alice" not in response.get_data()


def test_userinfo_with_an_unknown_token_is_invalid_token(idp: FlaskClient) -> None:
    response = idp.get("/userinfo", headers={"Authorization": "Bearer not-a-token-we-issued"})

    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_userinfo_with_an_expired_token_is_invalid_token(idp: FlaskClient, idp_app: Flask) -> None:
    access_token = password_grant(idp, **ALICE).get_json()["access_token"]
    store = idp_app.extensions["demo_legacy_idp"]
    store.tokens[access_token].issued_at = time.time() - 3601

    response = idp.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})

    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"


def test_home_page_lists_the_users_and_counts_password_checks() -> None:
    idp = legacy_idp.create_app().test_client()  # a fresh IDP: counts start at zero
    password_grant(idp, username="carol@example.com", password="carol-singer-42")

    page = idp.get("/").get_data(as_text=True)

    assert "legacy IDP" in page
    assert "Ferry migrates users away from" in page
    for email, password, given, family in legacy_idp.DEMO_USERS:
        assert email in page and password in page and f"{given} {family}" in page
    checks = dict(
        re.findall(r"<td>(\S+@example\.com)</td>.*?</td>.*?</td>\s*<td>(\d+)</td>", page, re.S)
    )
    assert checks == {"alice@example.com": "0", "bob@example.com": "0", "carol@example.com": "1"}


# -- demo app -----------------------------------------------------------------------------------


def make_demo_app(**config: object) -> Flask:
    settings = {"FERRY_DISCOVERY": DISCOVERY, "DEMO_APP_URL": "http://localhost"}
    return client_app.create_app({**settings, **config})


@pytest.fixture
def app_client() -> FlaskClient:
    return make_demo_app().test_client()


@pytest.fixture
def signed_in(app_client: FlaskClient) -> Iterator[FlaskClient]:
    # The callback's token exchange needs a running Ferry; put its outcome in the session.
    with app_client.session_transaction() as session:
        session["claims"] = {"sub": "u-42", "email": "alice@example.com", "iat": 1_700_000_000}
        session["id_token"] = "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"
    yield app_client


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no CSRF token"
    return match.group(1)


def test_home_page_offers_sign_in(app_client: FlaskClient) -> None:
    response = app_client.get("/")

    assert response.status_code == 200
    assert re.search(r'<a [^>]*href="/login"[^>]*>Sign in</a>', response.get_data(as_text=True))


def test_sign_in_redirects_to_ferry_with_pkce_and_nonce(app_client: FlaskClient) -> None:
    response = app_client.get("/login")

    assert response.status_code == 302
    location = urlsplit(response.location)
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{FERRY}/authorize"
    query = {key: values[0] for key, values in parse_qs(location.query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == "demo-app"
    assert query["redirect_uri"] == "http://localhost/callback"
    assert query["scope"] == "openid email profile"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43  # base64url of a SHA-256 digest
    assert query["state"] and query["nonce"]
    assert "demo_app_session=" in response.headers["Set-Cookie"]


def test_sign_in_starts_on_the_registered_host(app_client: FlaskClient) -> None:
    response = app_client.get("/login", base_url="http://127.0.0.1")

    assert response.status_code == 302
    assert response.location == "http://localhost/login"


def test_sign_in_when_ferry_is_down_shows_an_error() -> None:
    with socket.socket() as probe:  # a loopback port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    client = make_demo_app(FERRY_DISCOVERY=None, FERRY_URL=f"http://127.0.0.1:{closed_port}")

    response = client.test_client().get("/login")

    assert response.status_code == 502
    assert "ferry_unreachable" in response.get_data(as_text=True)


def test_callback_shows_the_error_ferry_sent(app_client: FlaskClient) -> None:
    app_client.get("/login")

    response = app_client.get(
        "/callback",
        query_string={"error": "access_denied", "error_description": "<b>No</b> thanks"},
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "access_denied" in page
    assert "&lt;b&gt;No&lt;/b&gt; thanks" in page  # shown, and escaped
    assert "<b>No</b>" not in page


def test_callback_with_a_state_it_never_issued_is_refused(app_client: FlaskClient) -> None:
    response = app_client.get("/callback", query_string={"code": "abc", "state": "forged"})

    assert response.status_code == 400
    assert "mismatching_state" in response.get_data(as_text=True)


def test_signed_in_home_shows_the_claims_and_a_sign_out_button(signed_in: FlaskClient) -> None:
    page = signed_in.get("/").get_data(as_text=True)

    assert re.search(r'<th scope="row">email</th><td>alice@example.com</td>', page)
    assert re.search(r'<th scope="row">sub</th><td>u-42</td>', page)
    assert "1700000000 (2023-11-14 22:13:20 UTC)" in page
    assert re.search(r'<button type="submit"[^>]*>Sign out</button>', page)
    assert ">Sign in<" not in page


def test_sign_out_ends_the_session_at_ferry(signed_in: FlaskClient) -> None:
    token = csrf_token(signed_in.get("/").get_data(as_text=True))

    response = signed_in.post("/logout", data={"csrf_token": token})

    assert response.status_code == 302
    location = urlsplit(response.location)
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{FERRY}/logout"
    query = {key: values[0] for key, values in parse_qs(location.query).items()}
    assert query["id_token_hint"] == "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"
    assert query["post_logout_redirect_uri"] == "http://localhost/"
    assert query["client_id"] == "demo-app"
    assert ">Sign in<" in signed_in.get("/").get_data(as_text=True)


def test_sign_out_without_the_csrf_token_is_refused(signed_in: FlaskClient) -> None:
    response = signed_in.post("/logout")

    assert response.status_code == 400
    assert "csrf_failed" in response.get_data(as_text=True)
    assert "alice@example.com" in signed_in.get("/").get_data(as_text=True)


# -- launcher -----------------------------------------------------------------------------------


def test_config_template_gets_the_ports() -> None:
    template = TEMPLATE.read_text(encoding="utf-8")

    config = tomllib.loads(render_config(template, Ports(ferry=6000, idp=6001, app=6002, smtp=6025)))

    assert config["ferry"]["issuer"] == "http://localhost:6000"
    legacy = config["connectors"]["demo-legacy"]
    assert legacy["token_url"] == "http://localhost:6001/oauth/token"
    assert legacy["userinfo_url"] == "http://localhost:6001/userinfo"
    assert legacy["client_id"] == "ferry" and legacy["client_secret"] == "demo-legacy-secret"
    assert legacy["lookup_url"] == "http://localhost:6001/api/users"
    assert (config["ferry"]["smtp_host"], config["ferry"]["smtp_port"]) == ("127.0.0.1", 6025)
    app = config["apps"]["demo-app"]
    assert app["redirect_uris"] == ["http://localhost:6002/callback"]
    assert app["post_logout_redirect_uris"] == ["http://localhost:6002/"]


@pytest.mark.parametrize(
    ("environ", "complaint"),
    [
        ({"FERRY_PORT": "http"}, "FERRY_PORT"),
        ({"DEMO_IDP_PORT": "70000"}, "DEMO_IDP_PORT"),
        ({"DEMO_APP_PORT": "5000"}, "must differ"),
        ({"DEMO_SMTP_PORT": "5001"}, "must differ"),
        ({"DEMO_SMTP_PORT": "smtp"}, "DEMO_SMTP_PORT"),
    ],
)
def test_bad_ports_are_refused_with_a_clear_message(environ: dict, complaint: str) -> None:
    with pytest.raises(DemoError, match=complaint):
        Ports.from_env(environ)


def test_default_ports() -> None:
    assert Ports.from_env({}) == Ports(ferry=5000, idp=5001, app=5002, smtp=5025)
    assert Ports.from_env({"DEMO_SMTP_PORT": "2525"}).smtp == 2525
