"""The code is minted from the request ``/authorize`` checked, kept in the run since: its answer
is the one authlib's own path gave (code, state, iss on the registered URI, the code stored
with everything the token needs), and what may have changed meanwhile is looked at again: an
app gone or its redirect URI removed gets no code and its browser goes back to ``/authorize``."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from models import AuthorizationCode, OAuthClient, db
from provider import clients
from provider.codes import token_hash
from tests.accounts import create_local_user
from tests.conftest import APP_REDIRECT, SignIn
from tests.provider.apps import EMAIL, PASSWORD, provider_deployment, query


def _app(make_app, database_url):
    built = make_app(database_url, DEPLOYMENT=provider_deployment())
    create_local_user(built, EMAIL, PASSWORD)
    return built


def test_the_answer_carries_code_state_and_iss_and_the_code_its_request(make_app, database_url):
    app = _app(make_app, database_url)
    browser = SignIn(app.test_client())
    answer = query(browser.sign_in(EMAIL, PASSWORD, acr_values="urn:ferry:password"))
    assert sorted(answer) == ["code", "iss", "state"]
    assert answer["state"] == browser.state and answer["iss"] == "http://localhost"
    with db.connection_context():
        row = AuthorizationCode.get(AuthorizationCode.code_hash == token_hash(answer["code"]))
    assert (row.client_id, row.redirect_uri, row.nonce) == ("test-app", APP_REDIRECT, browser.nonce)
    assert set(row.scope.split()) == {"openid", "email", "profile"}
    assert row.code_challenge_method == "S256" and row.amr == ["pwd"] and row.session_id
    assert browser.id_token_claims(browser.exchange(answer["code"]).get_json()["id_token"])["nonce"] \
        == browser.nonce


def test_a_redirect_uri_removed_during_the_sign_in_gets_no_code(make_app, database_url):
    app = _app(make_app, database_url)
    browser = SignIn(app.test_client())
    browser.start()
    with app.app_context(), db.connection_context():
        OAuthClient.update(redirect_uris=["http://localhost:9999/elsewhere"]).where(
            OAuthClient.client_id == "test-app").execute()
        clients.forget_cached()
    response = browser.post(identifier=EMAIL, password=PASSWORD)
    assert response.status_code in (302, 303)
    location = urlsplit(response.headers["Location"])
    assert location.netloc in ("", "localhost") and location.path == "/authorize"
    assert parse_qs(location.query)["redirect_uri"] == [APP_REDIRECT]
    again = browser.client.get(response.headers["Location"])
    assert again.status_code == 400 and "redirect" in again.get_data(as_text=True).lower()
    with db.connection_context():
        assert AuthorizationCode.select().count() == 0
