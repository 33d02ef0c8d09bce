"""The discovery document (OpenID Connect Discovery 1.0, RFC 8414): only what Ferry does.

Every value here is derived from the code that implements it (the auth methods the token
endpoint registers, the prompt values :mod:`provider.authorization` handles, the ``acr`` values of
:mod:`provider.acr`, the translations Flask-Babel has), so the document cannot drift from the
behaviour; the tests exercise each advertised value.
"""

from __future__ import annotations

from flask import current_app, url_for

from provider import acr, keys
from provider.app_settings import STANDARD_SCOPES
from provider.authorization import PROMPTS, SIGN_UP_JOURNEY
from provider.codes import TOKEN_ENDPOINT_AUTH_METHODS
from provider.endpoints import CONFIDENTIAL_METHODS
from provider.userinfo import SUPPORTED_CLAIMS
from users import locale

#: Algorithms a client's JWT assertion may use (joserfc's recommended JWS algorithms).
ASSERTION_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
                        "ES512", "EdDSA", "HS256", "HS384", "HS512"]


def _external(endpoint: str) -> str:
    return current_app.config["ISSUER"] + url_for(endpoint)


def prompt_values() -> list[str]:
    """``prompt`` values handled; ``create`` needs a ``sign-up`` journey to open."""
    journeys = current_app.extensions["ferry.journeys"].journeys
    return [p for p in PROMPTS if p != "create" or SIGN_UP_JOURNEY in journeys]


def ui_locales() -> list[str]:
    """The languages Ferry's pages have translations for (read from disk once per app)."""
    return sorted({name.replace("_", "-") for name in locale.translated()})


def document() -> dict:
    """``/.well-known/openid-configuration``."""
    return {
        "issuer": current_app.config["ISSUER"],
        "authorization_endpoint": _external("oidc.authorize"),
        "token_endpoint": _external("oidc.token"),
        "userinfo_endpoint": _external("oidc.userinfo"),
        "jwks_uri": _external("oidc.jwks"),
        "end_session_endpoint": _external("oidc.end_session"),
        "revocation_endpoint": _external("oidc.revoke"),
        "introspection_endpoint": _external("oidc.introspect"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(keys.ALGORITHMS),
        "scopes_supported": STANDARD_SCOPES,
        "claims_supported": SUPPORTED_CLAIMS,
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "require_request_uri_registration": False,
        "token_endpoint_auth_methods_supported": TOKEN_ENDPOINT_AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
        "revocation_endpoint_auth_methods_supported": TOKEN_ENDPOINT_AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": CONFIDENTIAL_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": prompt_values(),
        "acr_values_supported": acr.SUPPORTED,
        "ui_locales_supported": ui_locales(),
        "authorization_response_iss_parameter_supported": True,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
    }
