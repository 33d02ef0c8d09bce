"""authlib's own OAuth 2.0 / OpenID Connect client against a served Ferry, over real HTTP:
discovery, code + PKCE, the ID token checked by authlib, refresh with rotation, revocation and
introspection, with ``client_secret_basic``, ``client_secret_jwt`` and ``private_key_jwt``.

The user's part (the sign-in page, the consent page) is a ``requests`` session posting the forms
like a browser would.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import ClientSecretJWT, PrivateKeyJWT
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from tests.accounts import create_local_user
from tests.browser.conftest import ServedApp
from tests.conftest import form_fields
from tests.provider.apps import EMAIL, PASSWORD, provider_deployment

REDIRECT = "http://localhost:8009/cb"
SECRET = "authlib-client-secret-0123456789"
KEY = RSAKey.generate_key(2048, auto_kid=True)
METHODS = {
    "client_secret_basic": {"client_secret": SECRET},
    "client_secret_jwt": {"client_secret": SECRET, "token_endpoint_auth_method": "client_secret_jwt"},
    "private_key_jwt": {"token_endpoint_auth_method": "private_key_jwt",
                        "jwks": {"keys": [KEY.as_dict(private=False)]}},
}


@pytest.fixture
def ferry(make_app, monkeypatch) -> Iterator[ServedApp]:
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    served = ServedApp("ferry")
    apps = {f"authlib-{method}": {"redirect_uris": [REDIRECT], **settings,
                                  "grant_types": ["authorization_code", "refresh_token"]}
            for method, settings in METHODS.items()}
    app = make_app(ISSUER=served.url, DEPLOYMENT=provider_deployment(**apps))
    create_local_user(app, EMAIL, PASSWORD)
    served.serve(app)
    yield served
    served.stop()


def session_for(ferry: ServedApp, method: str, metadata: dict) -> OAuth2Session:
    client_id = f"authlib-{method}"
    if method == "private_key_jwt":
        auth = PrivateKeyJWT(metadata["token_endpoint"])
        session = OAuth2Session(client_id, KEY.as_dict(private=True), token_endpoint_auth_method=auth,
                                revocation_endpoint_auth_method=auth, redirect_uri=REDIRECT,
                                scope="openid email offline_access", code_challenge_method="S256")
    elif method == "client_secret_jwt":
        auth = ClientSecretJWT(metadata["token_endpoint"])
        session = OAuth2Session(client_id, SECRET, token_endpoint_auth_method=auth,
                                revocation_endpoint_auth_method=auth, redirect_uri=REDIRECT,
                                scope="openid email offline_access", code_challenge_method="S256")
    else:
        session = OAuth2Session(client_id, SECRET, redirect_uri=REDIRECT, scope="openid email offline_access",
                                code_challenge_method="S256")
    if method.endswith("_jwt"):
        session.register_client_auth_method(auth)
    return session


def action(page: requests.Response) -> str:
    """Where the page's form posts (``/authorize`` answers the sign-in page, which posts to
    ``/login``), as a browser resolves it."""
    found = re.search(r'<form[^>]* action="([^"]*)"', page.text)
    assert found, page.text[:500]
    return urljoin(page.url, html.unescape(found.group(1)))


def user_signs_in(ferry: ServedApp, authorize_url: str) -> str:
    """A browser: sign-in page, "Not now" at the passkey offer, Allow at the consent page."""
    browser = requests.Session()
    page = browser.get(authorize_url)
    assert urlsplit(page.url).path == "/authorize" and not page.history, "not the page at once"
    page = browser.post(action(page), data={**form_fields(page.text), "identifier": EMAIL,
                                            "password": PASSWORD})
    if 'name="skip"' in page.text:
        page = browser.post(action(page), data={**form_fields(page.text), "skip": "1"},
                            allow_redirects=False)
        page = browser.get(urljoin(ferry.url, page.headers["Location"]))
    assert "Allow" in page.text, page.text[:500]
    answer = browser.post(urljoin(ferry.url, "/authorize/consent"),
                          data={**form_fields(page.text), "decision": "allow"}, allow_redirects=False)
    return answer.headers["Location"]


@pytest.mark.parametrize("method", list(METHODS))
def test_authlib_client_code_refresh_revoke_introspect(ferry, method):
    metadata = requests.get(f"{ferry.url}/.well-known/openid-configuration", timeout=5).json()
    oauth = session_for(ferry, method, metadata)
    verifier = "v" * 20 + method.replace("_", "") + "v" * 20
    url, state = oauth.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier,
                                                nonce="n-" + method, prompt="consent")
    callback = user_signs_in(ferry, url)
    assert parse_qs(urlsplit(callback).query)["iss"] == [ferry.url]
    token = oauth.fetch_token(metadata["token_endpoint"], authorization_response=callback,
                              code_verifier=verifier, state=state)
    keys = KeySet.import_key_set(requests.get(metadata["jwks_uri"], timeout=5).json())
    decoded = jwt.decode(token["id_token"], keys)
    claims = CodeIDToken(decoded.claims, decoded.header, {"iss": {"essential": True, "value": ferry.url}},
                         {"nonce": "n-" + method, "client_id": oauth.client_id,
                          "access_token": token["access_token"]})
    claims.validate()  # authlib's own ID token rules: iss, aud, exp, iat, nonce, at_hash
    assert claims["email"] == EMAIL and claims["auth_time"] and claims["sid"]

    rotated = oauth.refresh_token(metadata["token_endpoint"], refresh_token=token["refresh_token"])
    assert rotated["refresh_token"] != token["refresh_token"]
    userinfo = oauth.get(metadata["userinfo_endpoint"]).json()
    assert userinfo["sub"] == claims["sub"] and userinfo["email"] == EMAIL

    active = oauth.introspect_token(metadata["introspection_endpoint"], token=rotated["access_token"]).json()
    assert active["active"] is True and active["sub"] == claims["sub"]
    assert oauth.revoke_token(metadata["revocation_endpoint"], token=rotated["refresh_token"],
                              token_type_hint="refresh_token").status_code == 200
    dead = oauth.introspect_token(metadata["introspection_endpoint"], token=rotated["access_token"]).json()
    assert dead == {"active": False}, "revoking the refresh token leaves its access token alive"
