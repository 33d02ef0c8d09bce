"""authlib's authorization server, assembled from Ferry's grant and endpoint parts.

* :mod:`provider.codes`: the code grant, PKCE, the ID token.
* :mod:`provider.refresh`: the refresh grant with rotation and reuse detection.
* :mod:`provider.client_auth`: ``client_secret_jwt`` and ``private_key_jwt``.
* :mod:`provider.endpoints`: revocation, introspection, RP-initiated logout.
Here: the server itself (client lookup, token storage), bearer tokens for ``/userinfo``, and
killing a session's tokens when the session ends.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2.rfc6749 import OAuth2Request, TokenMixin
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from authlib.oauth2.rfc9207 import IssuerParameter
from flask import current_app
from flask import request as flask_request

from models import Token, fast, utcnow
from provider import clients, refresh
from provider.client_auth import ClientAssertionAuth
from provider.codes import CodeGrant, FerryOpenIDCode, S256Only, token_hash
from provider.endpoints import FerryEndSession, FerryIntrospection, FerryRevocation
from users import sessions

log = logging.getLogger(__name__)

__all__ = ["FerryServer", "build_server", "token_hash"]


class FerryIssuer(IssuerParameter):
    def get_issuer(self) -> str:
        return current_app.config["ISSUER"]


class AccessToken(TokenMixin):
    """An access token row, as the resource protector reads it."""

    def __init__(self, row: Token) -> None:
        self.row = row
        self.user = row.user

    def check_client(self, client) -> bool:
        return client.client_id == self.row.client_id

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return int((self.row.expires_at - self.row.issued_at).total_seconds())

    def is_expired(self) -> bool:
        return self.row.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return bool(self.row.revoked) or self.row.user.status != "active"


class FerryBearerValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> AccessToken | None:
        if not isinstance(token_string, str) or len(token_string) > 200:
            return None
        row = Token.get_or_none(Token.access_token_hash == token_hash(token_string))
        return AccessToken(row) if row else None


class PublicRequest(FlaskOAuth2Request):
    """authlib's view of a request, at the URL the world uses (the issuer's), not the one a
    TLS-terminating proxy forwarded: authlib refuses plain-http URLs, and a proxy's hop is not
    the app's business (``trusted_proxies`` or not)."""

    def __init__(self, request) -> None:
        OAuth2Request.__init__(self, method=request.method, headers=request.headers,
                               uri=current_app.config["ISSUER"] + request.full_path)
        self._request = request
        self.payload = FlaskOAuth2Payload(request)


class FerryServer(AuthorizationServer):
    def create_oauth2_request(self, request) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return PublicRequest(flask_request)

    def create_bearer_token_generator(self, config):
        default_ttl = config["ACCESS_TOKEN_TTL"]

        def expires_in(client, grant_type: str) -> int:
            return client.setting("access_token_ttl", default_ttl)

        def new_token(*_args, **_kwargs) -> str:
            # 256 random bits in one read of the OS's generator (authlib's generate_token draws
            # each of its 43 characters with a read of its own).
            return secrets.token_urlsafe(32)

        return BearerTokenGenerator(new_token, new_token, expires_in)

    def query_client(self, client_id: str):
        return clients.find(client_id)

    def save_token(self, token: dict, request) -> None:
        """The access token (hashed), tied to the session it came from; its refresh token."""
        code = getattr(request, "ferry_code", None)
        previous = getattr(request, "ferry_refresh", None)
        session_id = code.row.session_id if code else (previous.session_id if previous else None)
        family = refresh.store(token, request, session_id)
        issued = utcnow()
        fast.insert(
            Token, access_token_hash=token_hash(token["access_token"]), client=request.client.client_id,
            user=request.user.id, scope=token.get("scope", ""),
            code_hash=code.row.code_hash if code else None, session_id=session_id,
            refresh_family=family, issued_at=issued,
            expires_at=issued + timedelta(seconds=token["expires_in"]),
        )


def build_server(app) -> tuple[FerryServer, ResourceProtector]:
    """The authorization server and the resource protector of ``app``."""
    server = FerryServer()
    server.init_app(app)
    server.register_grant(CodeGrant, [FerryOpenIDCode(require_nonce=False), S256Only(required=True)])
    server.register_grant(refresh.RefreshGrant)
    for method in ("client_secret_jwt", "private_key_jwt"):
        server.register_client_auth_method(method, ClientAssertionAuth(method))
    server.register_endpoint(FerryEndSession)
    server.register_endpoint(FerryRevocation)
    server.register_endpoint(FerryIntrospection)
    server.register_extension(FerryIssuer())
    protector = ResourceProtector()
    protector.register_token_validator(FerryBearerValidator())
    sessions.session_ended.connect(_revoke_session_tokens, sender=app, weak=False)
    sessions.credentials_changed.connect(_revoke_user_tokens, sender=app, weak=False)
    return server, protector


def _revoke_session_tokens(_app, record) -> None:
    """A signed-out session takes its access and refresh tokens with it."""
    revoked = refresh.revoke_session(record.id_hash)
    if revoked:
        log.info("session ended: %d tokens revoked", revoked)


def _revoke_user_tokens(_app, user, kept) -> None:
    """A new password: the user's tokens die, but those of the session that set it."""
    revoked = refresh.revoke_user(user.id, kept.id_hash if kept is not None else None)
    if revoked:
        log.info("new password: %d tokens revoked", revoked)
