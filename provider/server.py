"""authlib's authorization server, wired to Ferry's tables.

Everything authlib asks of a storage layer is implemented here: client lookup, saving and
redeeming codes (single use, hashed), saving tokens (hashed), the ID token's key and claims,
and the RP-initiated logout endpoint.
"""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import timedelta

from authlib.common.security import generate_token
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2.rfc6749 import InvalidRequestError, TokenMixin
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core import AuthorizationCodeMixin
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.rpinitiated import EndSessionEndpoint
from flask import current_app

from models import AuthorizationCode, Token, User, utcnow
from models.database import supports_returning
from provider import clients, keys
from provider.userinfo import claims_for
from security.audit import record
from users import sessions

log = logging.getLogger(__name__)


def token_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class IssuedCode(AuthorizationCodeMixin):
    """A redeemed code, as authlib's grant reads it."""

    def __init__(self, row: AuthorizationCode) -> None:
        self.row = row
        self.user_id = row.user_id
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return self.row.auth_time

    def get_acr(self) -> str | None:
        return self.row.acr

    def get_amr(self) -> list[str]:
        return list(self.row.amr or [])


class CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def save_authorization_code(self, code: str, request) -> None:
        client = request.client
        user_session = request.ferry_session
        data = request.payload.data
        ttl = client.setting("code_ttl", current_app.config["CODE_TTL"])
        AuthorizationCode.create(
            code_hash=token_hash(code), client=client.client_id, user=request.user.id,
            redirect_uri=request.payload.redirect_uri, scope=request.scope or "",
            nonce=data.get("nonce"), code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            auth_time=user_session.auth_time, amr=user_session.amr,
            session_id=user_session.id_hash, expires_at=utcnow() + timedelta(seconds=ttl),
        )

    def query_authorization_code(self, code: str, client) -> IssuedCode | None:
        """Redeem: the UPDATE that marks the code used succeeds for exactly one request."""
        digest = token_hash(code) if isinstance(code, str) else ""
        now = utcnow()
        claim = AuthorizationCode.update(used_at=now).where(
            (AuthorizationCode.code_hash == digest)
            & (AuthorizationCode.client == client.client_id)
            & AuthorizationCode.used_at.is_null()
            & (AuthorizationCode.expires_at > now))
        if supports_returning():
            # The row the UPDATE claimed comes back from the same statement: no second SELECT.
            redeemed = list(claim.returning(AuthorizationCode).execute())
            if redeemed:
                return IssuedCode(redeemed[0])
        elif claim.execute():
            return IssuedCode(AuthorizationCode.get(AuthorizationCode.code_hash == digest))
        replayed = AuthorizationCode.get_or_none(
            (AuthorizationCode.code_hash == digest) & AuthorizationCode.used_at.is_null(False))
        if replayed is not None:
            # RFC 6749 4.1.2: a code used twice revokes the tokens issued for it.
            revoked = Token.update(revoked=True).where(Token.code_hash == digest).execute()
            record("oauth.code_replayed", user_id=replayed.user_id, client_id=client.client_id,
                   tokens_revoked=revoked)
        return None

    def delete_authorization_code(self, authorization_code: IssuedCode) -> None:
        """Nothing to do: the code was marked used when redeemed (kept to detect replays)."""

    def authenticate_user(self, authorization_code: IssuedCode) -> User | None:
        self.request.ferry_code_hash = authorization_code.row.code_hash
        return User.get_or_none((User.id == authorization_code.user_id) & (User.status == "active"))


class S256Only(CodeChallenge):
    """PKCE with S256 only; mandatory for public clients."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        try:
            if grant.request.client.is_public and not data.get("code_challenge"):
                raise InvalidRequestError("Public clients must send a PKCE 'code_challenge'.")
            if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
                raise InvalidRequestError("'code_challenge_method' must be S256.")
            super().validate_code_challenge(grant, redirect_uri)
        except InvalidRequestError as error:
            error.redirect_uri = redirect_uri
            raise

    def get_authorization_code_challenge(self, authorization_code: IssuedCode) -> str | None:
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: IssuedCode) -> str | None:
        return authorization_code.code_challenge_method


class FerryOpenIDCode(OpenIDCode):
    def exists_nonce(self, nonce: str, request) -> bool:
        return AuthorizationCode.select().where(
            (AuthorizationCode.client == request.payload.client_id)
            & (AuthorizationCode.nonce == nonce)
        ).exists()

    def resolve_client_private_key(self, client):
        return keys.signing_key()[1]

    def get_client_algorithm(self, client) -> str:
        return keys.ALGORITHM

    def get_encode_header(self, client) -> dict:
        return {"alg": keys.ALGORITHM, "kid": keys.signing_key()[0], "typ": "JWT"}

    def get_client_claims(self, client) -> dict:
        ttl = client.setting("id_token_ttl", current_app.config["ID_TOKEN_TTL"])
        return {"iss": current_app.config["ISSUER"], "aud": client.client_id,
                "exp": int(time.time()) + ttl}

    def generate_user_info(self, user: User, scope: str):
        return claims_for(user, scope)


class FerryEndSession(EndSessionEndpoint):
    def get_server_jwks(self):
        return keys.public_jwks()

    def end_session(self, end_session_request) -> None:
        user = sessions.sign_out()
        record("signout", user_id=user.id if user else None,
               client_id=end_session_request.client.client_id if end_session_request.client else None)


class FerryIssuer(IssuerParameter):
    def get_issuer(self) -> str:
        return current_app.config["ISSUER"]


class AccessToken(TokenMixin):
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
        return bool(self.row.revoked)


class FerryBearerValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> AccessToken | None:
        row = Token.get_or_none(Token.access_token_hash == token_hash(token_string))
        return AccessToken(row) if row else None


class FerryServer(AuthorizationServer):
    def create_bearer_token_generator(self, config):
        default_ttl = config["ACCESS_TOKEN_TTL"]

        def expires_in(client, grant_type: str) -> int:
            return client.setting("access_token_ttl", default_ttl)

        return BearerTokenGenerator(lambda *args, **kwargs: generate_token(43), None, expires_in)

    def query_client(self, client_id: str):
        return clients.find(client_id)

    def save_token(self, token: dict, request) -> None:
        issued = utcnow()
        Token.create(
            access_token_hash=token_hash(token["access_token"]),
            refresh_token_hash=token_hash(token["refresh_token"]) if token.get("refresh_token") else None,
            client=request.client.client_id, user=request.user.id, scope=token.get("scope", ""),
            code_hash=getattr(request, "ferry_code_hash", None),
            issued_at=issued, expires_at=issued + timedelta(seconds=token["expires_in"]),
        )


def build_server(app) -> tuple[FerryServer, ResourceProtector]:
    server = FerryServer()
    server.init_app(app)
    server.register_grant(CodeGrant, [FerryOpenIDCode(require_nonce=False), S256Only(required=True)])
    server.register_endpoint(FerryEndSession)
    server.register_extension(FerryIssuer())
    protector = ResourceProtector()
    protector.register_token_validator(FerryBearerValidator())
    return server, protector
