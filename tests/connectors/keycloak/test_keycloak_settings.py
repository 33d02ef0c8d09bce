"""The ``keycloak`` connector's settings: problems told at start-up, and every URL derived from the
realm by default."""

from __future__ import annotations

import pytest

from settings.errors import ConfigError
from tests.connectors.contract import build_connector


# -- settings ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("settings", "problem"), [
    ({"base_url": "https://sso.example.com/realms/acme"}, "not a realm URL"),
    ({"base_url": "sso.example.com"}, "http(s) URL"),
    ({"realm": "acme/protocol"}, "realm name"),
    ({"scope": "email profile"}, "openid"),
    ({"otp": "always"}, "otp_client_id"),
    ({"otp_client_id": "ferry-otp"}, 'only used with otp = "always"'),
    ({"otp": "always", "otp_client_id": "ferry"}, "another client"),
    ({"otp": "sometimes"}, "otp"),
    ({"token_url": "https://sso.example.com/token"}, "unknown setting"),
])
def test_settings_are_checked_at_start_up(app, settings, problem):
    table = {"type": "keycloak", "base_url": "https://sso.example.com", "realm": "acme",
             "client_id": "ferry", "client_secret": "s", **settings}
    with pytest.raises(ConfigError) as invalid:
        build_connector(app, table)
    assert problem in str(invalid.value)


def test_defaults_derive_every_url_from_the_realm(app):
    connector = build_connector(app, {"type": "keycloak", "base_url": "https://sso.example.com/auth/",
                                      "realm": "acme", "client_id": "ferry"})
    realm = "https://sso.example.com/auth/realms/acme"
    settings = connector.settings
    assert settings.token_url == f"{realm}/protocol/openid-connect/token"
    assert settings.userinfo_url == f"{realm}/protocol/openid-connect/userinfo"
    assert settings.jwks_uri == f"{realm}/protocol/openid-connect/certs"
    assert settings.issuer == realm
    assert (settings.client_auth, settings.otp, settings.scope) == ("post", "never", "openid email profile")
