"""A demo *legacy IDP*: the identity provider that Ferry migrates users away from.

It is a small but honest OAuth 2.0 server built from authlib's server parts:

- ``POST /oauth/token`` with the resource owner password credentials grant (RFC 6749, 4.3).
  The client authenticates with HTTP Basic or ``client_secret_post``. A wrong password and an
  unknown user get the same ``invalid_grant`` answer (and cost the same argon2 work), so the
  endpoint does not tell which e-mail addresses exist. The same endpoint gives the client a
  token of its own with the client-credentials grant (RFC 6749, 4.4): scope ``users.read``,
  the only scope that grant gets and one a user's token never gets.
- ``GET /userinfo`` with a user's Bearer access token (RFC 6750), answering OpenID-style claims,
  ``email_verified`` included.
- ``GET /api/users?email=...`` with the client's ``users.read`` token: the user search Ferry's
  ``lookup_url`` calls to send a one-time code to someone who has not migrated yet. It answers
  the user's claims (the userinfo claims, same ``sub``) as a JSON object, or ``404``
  ``{"error": "not_found"}``; a token without the scope gets ``403 insufficient_scope``.
- ``GET /`` an HTML page listing the demo users and how often this IDP checked each password
  (and looked each one up), so a newcomer sees that a migrated user no longer reaches it.

Users, clients and tokens live in memory (:mod:`demo.legacy_store`); the password hashes are
computed at start. Run it with ``python -m flask --app demo.legacy_idp:create_app run --port
5001`` (``demo.run`` does that).

authlib quirk worth knowing: its password grant answers ``invalid_request`` when
``authenticate_user`` returns ``None``; RFC 6749 (5.2) wants ``invalid_grant`` for bad resource
owner credentials, so :meth:`DemoPasswordGrant.authenticate_user` raises that itself.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Mapping
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector, current_token
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidScopeError,
    MissingAuthorizationError,
)
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import Flask, Response, abort, current_app, jsonify, render_template, request

from demo.legacy_store import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEMO_USERS,
    LOOKUP_SCOPE,
    SUPPORTED_SCOPES,
    TOKEN_ENDPOINT_AUTH_METHODS,
    TOKEN_LIFETIME,
    IssuedToken,
    LegacyStore,
    LegacyUser,
    normalise_username,
)

# What other modules (bench/soak.py, the tests) import from here.
__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "DEMO_USERS", "LOOKUP_SCOPE", "LegacyStore",
           "LegacyUser", "create_app", "normalise_username"]

logger = logging.getLogger(__name__)


class BearerProtector(ResourceProtector):
    """authlib's protector, answering a request without credentials as RFC 6750 (3.1) says:
    401 with a bare ``WWW-Authenticate: Bearer realm=...`` and no error code (authlib would
    send a non-standard ``missing_authorization`` error)."""

    def raise_error_response(self, error: Exception) -> None:
        """Answer a missing token with a bare challenge; everything else as authlib does."""
        if isinstance(error, MissingAuthorizationError):
            abort(Response(status=401, headers={"WWW-Authenticate": 'Bearer realm="legacy-idp"'}))
        super().raise_error_response(error)


class DemoPasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):
    """The password grant, checking passwords against the in-memory argon2 hashes."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_ENDPOINT_AUTH_METHODS

    def validate_requested_scope(self) -> None:
        """Known scopes, and never the lookup scope: a user's token cannot read other users."""
        super().validate_requested_scope()
        if LOOKUP_SCOPE in scope_to_list(self.request.payload.scope or ""):
            raise InvalidScopeError()

    def authenticate_user(self, username: str, password: str) -> LegacyUser:
        """The user whose password this is, or ``invalid_grant`` (the same for an unknown one)."""
        store: LegacyStore = current_app.extensions["demo_legacy_idp"]
        user = store.check_password(username, password)
        if user is None:
            # Not the username: people type passwords into the wrong field.
            logger.info("password grant rejected (wrong password or unknown user)")
            # One description for both cases: no hint whether the e-mail exists.
            raise InvalidGrantError("Invalid username or password.")
        logger.info("password grant accepted for %s", user.email)
        return user


class DemoClientCredentialsGrant(grants.ClientCredentialsGrant):
    """The client's own token, for the user lookup: scope ``users.read`` and nothing else."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_ENDPOINT_AUTH_METHODS

    def validate_requested_scope(self) -> None:
        """Only the lookup scope (which is also what a request without ``scope`` gets)."""
        asked = set(scope_to_list(self.request.payload.scope or ""))
        if not asked <= {LOOKUP_SCOPE}:
            raise InvalidScopeError()

    def generate_token(self, user: Any = None, scope: str | None = None, grant_type: str | None = None,
                       expires_in: int | None = None, include_refresh_token: bool = True) -> dict:
        """authlib's token, with the lookup scope when none was asked for."""
        return super().generate_token(user=user, scope=scope or LOOKUP_SCOPE, grant_type=grant_type,
                                      expires_in=expires_in, include_refresh_token=False)


class StoreTokenValidator(BearerTokenValidator):
    """Looks Bearer tokens up in the in-memory store."""

    def __init__(self, store: LegacyStore) -> None:
        super().__init__()
        self.store = store

    def authenticate_token(self, token_string: str) -> IssuedToken | None:
        """The token issued under ``token_string``, if any."""
        return self.store.find_token(token_string)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the legacy IDP. ``test_config`` may set ``DEMO_IDP_CLIENT_ID`` / ``_SECRET``."""
    app = Flask(__name__)
    app.config.from_mapping(
        SECRET_KEY=os.environ.get("DEMO_IDP_SECRET_KEY") or secrets.token_hex(32),
        SESSION_COOKIE_NAME="demo_idp_session",
        DEMO_IDP_CLIENT_ID=DEFAULT_CLIENT_ID,
        DEMO_IDP_CLIENT_SECRET=DEFAULT_CLIENT_SECRET,
        OAUTH2_SCOPES_SUPPORTED=list(SUPPORTED_SCOPES),
        OAUTH2_TOKEN_EXPIRES_IN={DemoPasswordGrant.GRANT_TYPE: TOKEN_LIFETIME,
                                 DemoClientCredentialsGrant.GRANT_TYPE: TOKEN_LIFETIME},
    )
    if test_config:
        app.config.from_mapping(test_config)

    store = LegacyStore.with_demo_users(
        app.config["DEMO_IDP_CLIENT_ID"], app.config["DEMO_IDP_CLIENT_SECRET"]
    )
    app.extensions["demo_legacy_idp"] = store
    app.add_template_filter(lambda ts: time.strftime("%H:%M:%S", time.localtime(ts)), "clock")

    server = AuthorizationServer(
        app,
        query_client=store.clients.get,
        save_token=lambda token, request: store.save_token(token, request.client, request.user),
    )
    server.register_grant(DemoPasswordGrant)
    server.register_grant(DemoClientCredentialsGrant)

    require_oauth = BearerProtector()
    require_oauth.register_token_validator(StoreTokenValidator(store))
    _register_views(app, store, server, require_oauth)
    return app


def _register_views(app: Flask, store: LegacyStore, server: AuthorizationServer,
                    require_oauth: BearerProtector) -> None:
    @app.post("/oauth/token")
    def issue_token() -> Response:
        """The token endpoint: the password and client-credentials grants."""
        return server.create_token_response()

    @app.get("/userinfo")
    @require_oauth()
    def userinfo() -> Response:
        """The claims of the user a Bearer token belongs to."""
        user = store.user_by_sub(current_token.sub)
        if user is None:  # the client's own token, which belongs to no user: as RFC 6750 says
            return Response(
                status=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        return jsonify(user.claims())

    @app.get("/api/users")
    @require_oauth(LOOKUP_SCOPE)
    def look_up_user() -> Response | tuple[Response, int]:
        """The user search: the claims of the user with this e-mail, or 404."""
        email = request.args.get("email", "").strip()
        if not email:
            return jsonify(error="invalid_request",
                           error_description="The email parameter is required."), 400
        user = store.look_up(email)
        if user is None:
            return jsonify(error="not_found"), 404
        logger.info("user lookup answered %s", user.email)
        return jsonify(user.claims())

    @app.get("/")
    def home() -> str:
        """The page listing the demo users, their password checks and lookups."""
        return render_template(
            "legacy_idp/home.html",
            users=list(store.users.values()),
            passwords={normalise_username(email): pw for email, pw, *_ in DEMO_USERS},
            rejected_attempts=store.rejected_attempts,
            pid=os.getpid(),
        )
