"""The ``oidc`` connector's presets (Google, Microsoft, Auth0, Okta, Keycloak, Apple) and its
settings checked at start-up; Microsoft's multi-tenant issuer and Sign in with Apple are played by
scripted providers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

import connectors
from connectors.oidc.presets import GOOGLE_ISSUER, PRESETS
from settings.errors import ConfigError
from tests.connectors.conftest import page_text
from tests.connectors.oidc.flow import (
    CALLBACK,
    PROVIDER,
    REJECTED,
    Browser,
    ferry,
    rejection_reasons,
    scripted_connector,
    users,
)
from tests.peers.oidc_provider import Answer
from tests.peers.oidc_scripted import ScriptedOidcProvider


# -- presets -----------------------------------------------------------------------------------
def build(make_app, table: dict):
    app = make_app()
    with app.app_context():
        return connectors.build_connectors({"corp": table}, app.config)["corp"]


P256 = ECKey.generate_key("P-256")
APPLE = {"type": "oidc", "preset": "apple", "client_id": "com.example.ferry", "team_id": "TEAM123456",
         "key_id": "KEY1234567", "private_key": P256.as_pem(private=True).decode()}


@pytest.mark.parametrize(("table", "issuer"), [
    ({"preset": "google"}, "https://accounts.google.com"),
    ({"preset": "microsoft", "tenant": "contoso.onmicrosoft.com"},
     "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0"),
    ({"preset": "microsoft", "tenant": "organizations"},
     "https://login.microsoftonline.com/organizations/v2.0"),
    ({"preset": "auth0", "domain": "corp.eu.auth0.com"}, "https://corp.eu.auth0.com/"),
    ({"preset": "okta", "domain": "corp.okta.com"}, "https://corp.okta.com/oauth2/default"),
    ({"preset": "okta", "domain": "corp.okta.com", "authorization_server": "org"},
     "https://corp.okta.com"),
    ({"preset": "keycloak", "base_url": "https://sso.example.com/", "realm": "staff"},
     "https://sso.example.com/realms/staff"),
])
def test_presets_need_only_the_client_and_what_is_inherent(make_app, table, issuer):
    connector = build(make_app, {"type": "oidc", "client_id": "ferry", "client_secret": "s", **table})
    assert connector.issuer == issuer
    assert connector.settings.scopes == ["openid", "email", "profile"]


@pytest.mark.parametrize(("table", "problem"), [
    ({"client_secret": "s"}, "issuer: required without a preset"),
    ({"issuer": "http://idp.example.com", "client_secret": "s"}, "https"),
    ({"issuer": "https://idp.example.com"}, "client_secret: required"),
    ({"issuer": "https://idp.example.com", "client_secret": "s", "scope": "email"},
     "must include openid"),
    ({"issuer": "https://idp.example.com", "client_secret": "s",
      "extra_authorize_params": {"state": "x", "prompt": "login"}}, "Ferry sets state itself"),
    ({"issuer": "https://idp.example.com", "client_secret": "s", "claims": "{not json"},
     "must be a table or a JSON object"),
    ({"issuer": "https://idp.example.com", "client_secret": "s", "tenant": "common"},
     "tenant: only for preset microsoft"),
    ({"preset": "microsoft", "client_secret": "s"}, "tenant: required by preset 'microsoft'"),
    ({"preset": "auth0", "client_secret": "s", "domain": "evil.example/x"}, "bare name"),
    ({"preset": "keycloak", "client_secret": "s", "base_url": "https://sso.example.com"},
     "realm: required"),
    ({"issuer": "https://idp.example.com", "client_auth": "private_key_jwt"},
     "private_key: required"),
    ({"issuer": "https://idp.example.com", "client_auth": "private_key_jwt",
      "private_key": "not a key"}, "not an RSA or EC"),
    ({**APPLE, "client_secret": "s"}, "client_secret: Apple's is generated"),
    ({**APPLE, "private_key": RSAKey.generate_key(2048).as_pem(private=True).decode()},
     "not a P-256 private key"),
    ({k: v for k, v in APPLE.items() if k != "team_id"}, "team_id: required"),
])
def test_settings_problems_are_told_at_start_up(make_app, table, problem):
    with pytest.raises(ConfigError) as error:
        build(make_app, {"type": "oidc", "client_id": "ferry", **table})
    assert problem in str(error.value.problems)


def test_google_tokens_may_name_the_issuer_without_scheme():
    google = PRESETS["google"]
    assert google.token_issuers(GOOGLE_ISSUER, {}) == [GOOGLE_ISSUER, "accounts.google.com"]


@pytest.fixture
def microsoft() -> Iterator[ScriptedOidcProvider]:
    """A scripted multi-tenant Microsoft endpoint: issuer ``.../{tenantid}/v2.0`` in discovery."""
    with ScriptedOidcProvider(issuer_path="/organizations/v2.0") as idp:
        idp.discovery_overrides.update(issuer=idp.url("/{tenantid}/v2.0"),
                                       authorization_response_iss_parameter_supported=False)
        yield idp


TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


@pytest.mark.parametrize(("token_claims", "accepted"), [
    ({"tid": TENANT, "iss": "/" + TENANT + "/v2.0"}, True),
    ({"tid": TENANT, "iss": "/00000000-0000-0000-0000-000000000000/v2.0"}, False),
    ({"iss": "/" + TENANT + "/v2.0"}, False),
    ({"tid": TENANT, "iss": "/{tenantid}/v2.0"}, False),
])
def test_microsoft_multi_tenant_issuer_is_filled_with_the_tenant(make_app, microsoft, token_claims,
                                                                  accepted):
    app = ferry(make_app, scripted_connector(
        microsoft, preset="microsoft", tenant="organizations",
        issuer=microsoft.url("/organizations/v2.0")))
    microsoft.id_token_claims.update(
        {**token_claims, "iss": microsoft.url(token_claims["iss"])})
    browser = Browser(app)
    params = microsoft.authorize(browser.to_provider())
    page = browser.back_and_on({k: v for k, v in params.items() if k != "iss"})
    if accepted:
        assert browser.app_id_token(page)["email"] == "alice@example.com"
    else:
        assert REJECTED in page_text(page)
        assert rejection_reasons(app) == ["the ID token's 'iss' claim is wrong"]


def test_microsoft_discovery_must_still_be_microsofts_shape():
    microsoft = PRESETS["microsoft"]

    def settings(tenant):
        return type("S", (), {"tenant": tenant})()

    configured = "https://login.microsoftonline.com/organizations/v2.0"
    ok = microsoft.discovery_issuer_ok
    assert ok(settings("organizations"), configured,
              "https://login.microsoftonline.com/{tenantid}/v2.0")
    assert not ok(settings("organizations"), configured,
                  "https://evil.example/{tenantid}/v2.0")
    assert ok(settings("contoso.com"), "https://login.microsoftonline.com/contoso.com/v2.0",
              f"https://login.microsoftonline.com/{TENANT}/v2.0")
    assert not ok(settings(TENANT), f"https://login.microsoftonline.com/{TENANT}/v2.0",
                  "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0")


@pytest.fixture
def apple() -> Iterator[ScriptedOidcProvider]:
    """A scripted Sign in with Apple: no userinfo, a generated client secret, e-mail_verified
    as a string, and the user's name in a ``user`` form field of the first answer only."""
    received: list[dict] = []

    def secret_ok(secret: str) -> bool:
        try:  # signed with the team's key (only its public half is known here)
            token = jwt.decode(secret, ECKey.import_key(P256.as_dict(private=False)),
                               algorithms=["ES256"])
        except JoseError:
            return False
        received.append({"header": token.header, "claims": token.claims})
        return True

    with ScriptedOidcProvider(client_id=APPLE["client_id"], client_secret=secret_ok) as idp:
        idp.received_secrets = received  # type: ignore[attr-defined]
        idp.discovery_overrides.update(userinfo_endpoint=None,
                                       authorization_response_iss_parameter_supported=False,
                                       token_endpoint_auth_methods_supported=["client_secret_post"])
        idp.id_token_claims.update(email="alice@privaterelay.appleid.com", email_verified="true",
                                   is_private_email="true")
        yield idp


def test_apple_preset(make_app, apple):
    app = ferry(make_app, {**APPLE, "display_name": PROVIDER, "issuer": apple.issuer})
    browser = Browser(app)
    location = browser.to_provider()
    query = dict(parse_qsl(urlsplit(location).query))
    assert query["response_mode"] == "form_post" and query["scope"] == "openid name email"

    params = apple.authorize(location)
    # Only the first answer carries the name; the e-mail in it is unsigned and must be ignored.
    user_field = json.dumps({"name": {"firstName": "Alice", "lastName": "Liddell"},
                             "email": "mallory@example.com"})
    done = browser.back_and_on(Answer("POST", CALLBACK, {**params, "user": user_field}))
    assert browser.app_id_token(done)["email"] == "alice@privaterelay.appleid.com"

    [user] = users(app)
    assert (user.email, user.email_verified, user.given_name, user.family_name, user.name) == (
        "alice@privaterelay.appleid.com", True, "Alice", "Liddell", "Alice Liddell")
    [secret] = apple.received_secrets
    assert (secret["header"]["alg"], secret["header"]["kid"]) == ("ES256", "KEY1234567")
    claims = secret["claims"]
    assert (claims["iss"], claims["sub"], claims["aud"]) == ("TEAM123456", APPLE["client_id"],
                                                             apple.issuer)
    assert 0 < claims["exp"] - claims["iat"] <= 15_777_000  # Apple's six months at most
    assert apple.calls("/userinfo") == []
    assert "client_secret" in apple.calls("/token")[0].form()

    # The next sign-ins bring no name: the one kept stays.
    again = Browser(app)
    params = apple.authorize(again.to_provider())
    again.app_id_token(again.back_and_on(Answer("POST", CALLBACK, params)))
    [user] = users(app)
    assert (user.given_name, user.name) == ("Alice", "Alice Liddell")
