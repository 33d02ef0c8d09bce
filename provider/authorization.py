"""The two ends of an app's sign-in: validating its request, and issuing its code.

``/authorize`` validates the request with authlib and keeps the validated parameters in the
journey run; the journey's ``complete`` step calls :func:`issue_code`, which replays them
through authlib to mint the code and build the redirect back to the app.
"""

from __future__ import annotations

from urllib.parse import urlencode

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from flask import current_app, request

from models import User, UserSession

#: Parameters of an authorization request worth keeping for the code.
KEPT_PARAMETERS = (
    "client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
    "code_challenge", "code_challenge_method", "prompt", "max_age", "login_hint", "ui_locales",
)


def server():
    return current_app.extensions["ferry.oauth_server"]


def validate_request():
    """Validate the current ``/authorize`` request; returns the authlib grant.

    Raises authlib's ``OAuth2Error``; its ``redirect_uri`` is set only when the client and
    redirect URI were verified, i.e. when it is safe to send the error back to the app.
    """
    grant = server().get_consent_grant(end_user=None)
    return grant


def kept_parameters() -> dict[str, str]:
    return {name: request.args[name] for name in KEPT_PARAMETERS if name in request.args}


def issue_code(parameters: dict[str, str], user: User, user_session: UserSession) -> str:
    """Mint a code for ``user`` and return the app's redirect URL carrying it."""
    uri = f"{current_app.config['ISSUER']}/authorize?{urlencode(parameters)}"
    oauth_request = OAuth2Request("GET", uri)
    oauth_request.payload = BasicOAuth2Payload(dict(parameters))
    oauth_request.ferry_session = user_session
    authorization_server = server()
    grant = authorization_server.get_authorization_grant(oauth_request)
    response = authorization_server.create_authorization_response(
        oauth_request, grant_user=user, grant=grant
    )
    return response.headers["Location"]
