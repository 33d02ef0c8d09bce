"""Prove that the password-grant peer is a real OAuth 2.0 server.

Each test talks HTTP to a django-oauth-toolkit server running in a subprocess.
"""

import concurrent.futures

import pytest
import requests

from .password_grant import PasswordGrantServer, PasswordGrantServerError

ALICE = "alice@example.com"
SCOPE = "openid email profile"


@pytest.fixture(scope="module")
def idp():
    with PasswordGrantServer() as server:
        yield server


def password_grant(idp, username, password, *, client_secret=None, scope=SCOPE, session=requests):
    data = {"grant_type": "password", "username": username, "password": password}
    if scope is not None:
        data["scope"] = scope
    secret = idp.client_secret if client_secret is None else client_secret
    return session.post(idp.token_url, data=data, auth=(idp.client_id, secret), timeout=10)


def userinfo(idp, access_token):
    return requests.get(
        idp.userinfo_url, headers={"Authorization": f"Bearer {access_token}"}, timeout=10
    )


def assert_oauth_error(response, status, error):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"] == error
    assert "access_token" not in response.json()


def test_password_grant_and_userinfo_for_alice(idp):
    r = password_grant(idp, ALICE, idp.users[ALICE])
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    token = r.json()
    assert token["token_type"] == "Bearer"
    assert token["access_token"]
    assert set(token["scope"].split()) == {"openid", "email", "profile"}

    info = userinfo(idp, token["access_token"])
    assert info.status_code == 200, info.text
    assert info.headers["Content-Type"].startswith("application/json")
    assert info.json() == {
        "sub": idp.profiles[ALICE]["sub"],
        "email": ALICE,
        "email_verified": True,
        "given_name": "Alice",
        "family_name": "Liddell",
        "name": "Alice Liddell",
    }


def test_each_user_gets_their_own_profile(idp):
    r = password_grant(idp, "bob@example.com", idp.users["bob@example.com"])
    assert r.status_code == 200, r.text
    info = userinfo(idp, r.json()["access_token"]).json()
    assert info["email"] == "bob@example.com"
    assert info["name"] == "Bob Builder"
    assert info["sub"] != idp.profiles[ALICE]["sub"]


def test_wrong_password_is_invalid_grant(idp):
    assert_oauth_error(password_grant(idp, ALICE, "not-her-password"), 400, "invalid_grant")


def test_unknown_user_is_invalid_grant(idp):
    assert_oauth_error(
        password_grant(idp, "nobody@example.com", "whatever-1"), 400, "invalid_grant"
    )


def test_inactive_user_is_refused(idp):
    assert idp.inactive_users == {"dave@example.com": "disabled-account-1"}
    r = password_grant(idp, "dave@example.com", idp.users["dave@example.com"])
    assert_oauth_error(r, 400, "invalid_grant")


def test_wrong_client_secret_is_invalid_client(idp):
    r = password_grant(idp, ALICE, idp.users[ALICE], client_secret="not-the-secret")
    assert_oauth_error(r, 401, "invalid_client")


def test_missing_client_authentication_is_invalid_client(idp):
    data = {"grant_type": "password", "username": ALICE, "password": idp.users[ALICE]}
    assert_oauth_error(requests.post(idp.token_url, data=data, timeout=10), 401, "invalid_client")


def test_client_credentials_in_form_body_are_accepted(idp):
    data = {
        "grant_type": "password",
        "username": ALICE,
        "password": idp.users[ALICE],
        "client_id": idp.client_id,
        "client_secret": idp.client_secret,
    }
    r = requests.post(idp.token_url, data=data, timeout=10)
    assert r.status_code == 200, r.text


def test_usernames_are_case_sensitive(idp):
    mixed = "Mixed.Case@Example.com"
    r = password_grant(idp, mixed, idp.users[mixed])
    assert r.status_code == 200, r.text
    assert userinfo(idp, r.json()["access_token"]).json()["email"] == mixed

    assert_oauth_error(password_grant(idp, mixed.lower(), idp.users[mixed]), 400, "invalid_grant")
    assert_oauth_error(password_grant(idp, ALICE.upper(), idp.users[ALICE]), 400, "invalid_grant")


def test_without_scope_parameter_all_scopes_are_granted(idp):
    r = password_grant(idp, ALICE, idp.users[ALICE], scope=None)
    assert r.status_code == 200, r.text
    assert set(r.json()["scope"].split()) == {"openid", "email", "profile"}


def test_unknown_scope_is_invalid_scope(idp):
    r = password_grant(idp, ALICE, idp.users[ALICE], scope="openid offline_access")
    assert_oauth_error(r, 400, "invalid_scope")


def test_userinfo_claims_follow_granted_scopes(idp):
    r = password_grant(idp, ALICE, idp.users[ALICE], scope="openid")
    assert userinfo(idp, r.json()["access_token"]).json() == {"sub": idp.profiles[ALICE]["sub"]}

    # Without "openid" the token is not good for userinfo at all.
    r = password_grant(idp, ALICE, idp.users[ALICE], scope="email profile")
    assert r.status_code == 200, r.text
    info = userinfo(idp, r.json()["access_token"])
    assert info.status_code == 401
    assert "invalid_token" in info.headers["WWW-Authenticate"]


def test_userinfo_rejects_a_bogus_token(idp):
    info = userinfo(idp, "not-a-real-token")
    assert info.status_code == 401
    assert 'error="invalid_token"' in info.headers["WWW-Authenticate"]


def test_concurrent_logins(idp):
    def login(i):
        email = (ALICE, "bob@example.com")[i % 2]
        return password_grant(idp, email, idp.users[email]).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert list(pool.map(login, range(24))) == [200] * 24


def test_stop_refuses_connections_and_start_recovers_same_port_and_data(tmp_path):
    with PasswordGrantServer(workdir=tmp_path / "peer") as idp:
        assert idp.running and idp.startup_seconds < 30
        port, token_url = idp.port, idp.token_url
        before = password_grant(idp, ALICE, idp.users[ALICE])
        assert before.status_code == 200, before.text
        access_token = before.json()["access_token"]
        sub = userinfo(idp, access_token).json()["sub"]

        idp.stop()
        assert not idp.running and idp.pid is None
        with pytest.raises(requests.ConnectionError):
            password_grant(idp, ALICE, idp.users[ALICE])
        idp.stop()  # idempotent

        idp.start()
        assert idp.running
        assert (idp.port, idp.token_url) == (port, token_url)
        # Same database: the token issued before the outage still works, same sub.
        assert userinfo(idp, access_token).json()["sub"] == sub
        after = password_grant(idp, ALICE, idp.users[ALICE])
        assert after.status_code == 200, after.text
    assert not idp.running
    assert (tmp_path / "peer" / "oauth.sqlite3").exists()  # a caller-owned workdir is kept


def test_start_failure_reports_server_output(tmp_path):
    with PasswordGrantServer(workdir=tmp_path / "first") as first:
        # A second server may not take the first one's port.
        second = PasswordGrantServer(
            workdir=tmp_path / "second", port=first.port, startup_timeout=30
        )
        with pytest.raises(PasswordGrantServerError) as excinfo:
            second.start()
        assert "Address already in use" in str(excinfo.value)
        assert not second.running
        second.close()
