"""ES256 beside RS256: an app may have its ID tokens signed with ECDSA P-256.

RS256 stays every app's default (OpenID Connect Core 15.1: every OP supports it); an app with
``id_token_signed_response_alg = "ES256"`` gets ES256 ID tokens and logout tokens, verifiable
with the EC key the JWKS publishes beside the RSA one.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from click.testing import CliRunner
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from models import SigningKey, db
from provider import backchannel, keys
from provider.endpoints import hint_subject
from settings.errors import ConfigError
from tests.accounts import create_local_user
from tests.conftest import APP_REDIRECT, APP_SECRET, SignIn, deployment

EMAIL, PASSWORD = "erin@example.com", "correct horse battery"
EC_REDIRECT = "http://localhost:8004/cb"


@pytest.fixture
def app(make_app):
    tables = deployment()
    tables["apps"]["ec-app"] = {"name": "EC app", "client_secret": APP_SECRET,
                                "redirect_uris": [EC_REDIRECT],
                                "id_token_signed_response_alg": "ES256"}
    built = make_app(DEPLOYMENT=tables)
    create_local_user(built, EMAIL, PASSWORD)
    return built


def tokens_of(app, client_id: str, redirect_uri: str) -> tuple[SignIn, dict]:
    walker = SignIn(app.test_client(), client_id=client_id, redirect_uri=redirect_uri)
    return walker, walker.tokens(EMAIL, PASSWORD)


def header_of(token: str) -> dict:
    return jws.extract_compact(token.encode()).protected


def test_discovery_and_jwks_offer_both_algorithms(app):
    client = app.test_client()
    discovery = client.get("/.well-known/openid-configuration").get_json()
    assert discovery["id_token_signing_alg_values_supported"] == ["RS256", "ES256"]
    published = client.get("/.well-known/jwks.json").get_json()["keys"]
    assert sorted((k["kty"], k["alg"]) for k in published) == [("EC", "ES256"), ("RSA", "RS256")]
    assert all("d" not in k for k in published)  # public halves only


def test_an_es256_app_gets_es256_id_tokens_with_a_matching_at_hash(app):
    walker, tokens = tokens_of(app, "ec-app", EC_REDIRECT)
    header = header_of(tokens["id_token"])
    assert header["alg"] == "ES256"
    keyset = KeySet.import_key_set(walker.client.get("/.well-known/jwks.json").get_json())
    assert keyset.get_by_kid(header["kid"]).key_type == "EC"
    claims = walker.id_token_claims(tokens["id_token"])  # signature, iss, aud, nonce
    digest = hashlib.sha256(tokens["access_token"].encode()).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    with pytest.raises(JoseError):  # an RS256-only verifier refuses it: no algorithm confusion
        jwt.decode(tokens["id_token"], keyset, algorithms=["RS256"])


def test_other_apps_keep_rs256(app):
    walker, tokens = tokens_of(app, "test-app", APP_REDIRECT)
    assert header_of(tokens["id_token"])["alg"] == "RS256"
    assert walker.id_token_claims(tokens["id_token"])["aud"] == "test-app"


def test_an_es256_id_token_is_a_valid_hint_at_logout(app):
    walker, tokens = tokens_of(app, "ec-app", EC_REDIRECT)
    with app.app_context(), db.connection_context():
        assert hint_subject(tokens["id_token"]) == walker.id_token_claims(tokens["id_token"])["sub"]


def test_logout_tokens_are_signed_like_the_apps_id_tokens(app):
    with app.app_context(), db.connection_context():
        ec = backchannel.logout_token("ec-app", "user-1", "sid-1")
        rsa = backchannel.logout_token("test-app", "user-1", "sid-1")
    assert header_of(ec)["alg"] == "ES256" and header_of(rsa)["alg"] == "RS256"


def test_rotating_one_algorithm_leaves_the_other_and_keeps_the_old_key_published(app):
    with app.app_context(), db.connection_context():
        before = {row.alg: row.kid for row in SigningKey.select().where(SigningKey.active)}
    result = CliRunner().invoke(app.cli, ["keys", "rotate", "--alg", "ES256"])
    assert result.exit_code == 0, result.output
    keys.clear_cache()
    with app.app_context(), db.connection_context():
        after = {row.alg: row.kid for row in SigningKey.select().where(SigningKey.active)}
        published = {k["kid"] for k in keys.public_jwks()["keys"]}
    assert after["RS256"] == before["RS256"] and after["ES256"] != before["ES256"]
    assert {before["ES256"], after["ES256"], after["RS256"]} <= published
    walker, tokens = tokens_of(app, "ec-app", EC_REDIRECT)
    assert header_of(tokens["id_token"])["kid"] == after["ES256"]


def test_an_algorithm_ferry_does_not_sign_with_is_refused_at_start(make_app):
    tables = deployment()
    tables["apps"]["test-app"]["id_token_signed_response_alg"] = "HS256"
    with pytest.raises(ConfigError, match="id_token_signed_response_alg"):
        make_app(DEPLOYMENT=tables)
