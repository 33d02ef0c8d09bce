"""The authorization code grant: codes minted for a signed-in user, redeemed once, with PKCE,
and the ID token they buy (``auth_time``, ``amr``, ``acr`` when asked, ``sid``, ``at_hash``).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import timedelta

from authlib.oauth2.rfc6749 import InvalidRequestError, scope_to_list
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import AuthorizationCodeMixin
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.core.grants.util import create_half_hash
from flask import current_app
from joserfc import jwt

from models import AuthorizationCode, Token, User, fast, utcnow
from models.database import supports_returning
from provider import keys
from provider.userinfo import claims_for
from security.audit import record

#: Client authentication the token endpoint accepts; each app is held to its own one.
TOKEN_ENDPOINT_AUTH_METHODS = [
    "client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none",
]


def token_hash(value: str) -> str:
    """How codes and tokens are stored: SHA-256 (they are long random strings)."""
    return hashlib.sha256(value.encode()).hexdigest()


class IssuedCode(AuthorizationCodeMixin):
    """A redeemed code, as authlib's grant reads it."""

    def __init__(self, row: AuthorizationCode) -> None:
        self.row = row
        self.user_id = row.user_id
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method
        self.claims = dict(row.claims or {})

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
    """``grant_type=authorization_code`` on Ferry's tables."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_ENDPOINT_AUTH_METHODS

    def generate_authorization_code(self) -> str:
        """288 random bits, URL-safe (authlib's 48 characters read the OS's generator once
        each)."""
        return secrets.token_urlsafe(36)

    def save_authorization_code(self, code: str, request) -> None:
        """Store the code (hashed) with how and when the user signed in."""
        client = request.client
        user_session = request.ferry_session
        data = request.payload.data
        ttl = client.setting("code_ttl", current_app.config["CODE_TTL"])
        # Only a nonce can be taken: without one this is a plain INSERT, whose errors are real.
        insert = fast.insert_unless_taken if data.get("nonce") else fast.insert
        stored = insert(
            AuthorizationCode, code_hash=token_hash(code), client=client.client_id, user=request.user.id,
            redirect_uri=request.payload.redirect_uri, scope=request.scope or "",
            nonce=data.get("nonce"), code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            auth_time=user_session.auth_time, amr=user_session.amr, acr=getattr(request, "ferry_acr", None),
            session_id=user_session.id_hash, claims={"sid": user_session.sid},
            expires_at=utcnow() + timedelta(seconds=ttl),
        )
        if stored is None:
            # The unique index on (app, nonce) refused it: a replayed nonce (OIDC Core 15.5.2).
            # Checked here rather than looked up on every authorization request.
            record("oauth.nonce_replayed", user_id=request.user.id, client_id=client.client_id)
            error = InvalidRequestError("This 'nonce' was used before: send a new one for each request.")
            error.redirect_uri = request.payload.redirect_uri
            raise error

    def query_authorization_code(self, code: str, client) -> IssuedCode | None:
        """Redeem: the UPDATE that marks the code used succeeds for exactly one request."""
        digest = token_hash(code) if isinstance(code, str) else ""
        now = utcnow()
        if supports_returning():
            # The row the UPDATE claimed comes back from the same statement: no second SELECT.
            redeemed = fast.claim(AuthorizationCode, {"used_at": now}, unset="used_at",
                                  later=("expires_at", now), code_hash=digest, client=client.client_id)
            if redeemed is not None:
                return IssuedCode(redeemed)
        elif AuthorizationCode.update(used_at=now).where(
                (AuthorizationCode.code_hash == digest)
                & (AuthorizationCode.client == client.client_id)
                & AuthorizationCode.used_at.is_null()
                & (AuthorizationCode.expires_at > now)).execute():
            return IssuedCode(AuthorizationCode.get(AuthorizationCode.code_hash == digest))
        replayed = AuthorizationCode.get_or_none(
            (AuthorizationCode.code_hash == digest) & AuthorizationCode.used_at.is_null(False))
        if replayed is not None:
            # RFC 6749 4.1.2: a code used twice revokes the tokens issued for it.
            from provider import refresh

            revoked = Token.update(revoked=True).where(Token.code_hash == digest).execute()
            refresh.revoke_families_of_code(digest)
            record("oauth.code_replayed", user_id=replayed.user_id, client_id=client.client_id,
                   tokens_revoked=revoked)
        return None

    def delete_authorization_code(self, authorization_code: IssuedCode) -> None:
        """Nothing to do: the code was marked used when redeemed (kept to detect replays)."""

    def authenticate_user(self, authorization_code: IssuedCode) -> User | None:
        """The code's user, if still active; the grant keeps what the tokens need to know."""
        self.request.ferry_code = authorization_code
        return fast.get(User, id=authorization_code.user_id, status="active")

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None,
                       include_refresh_token=True):
        """A refresh token only for an app allowed one that was granted ``offline_access``."""
        include = include_refresh_token and "offline_access" in (scope_to_list(scope) or [])
        return super().generate_token(user=user, scope=scope, grant_type=grant_type,
                                      expires_in=expires_in, include_refresh_token=include)


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
    """OpenID Connect on the code grant. ``prompt`` is Ferry's own business (see
    :mod:`provider.authorization`), so authlib's prompt check is not registered."""

    def __call__(self, grant) -> None:
        grant.register_hook("after_create_token_response", self.process_token)
        grant.register_hook("after_validate_authorization_request_payload",
                            self.validate_openid_authorization_request)

    def validate_openid_authorization_request(self, grant, redirect_uri) -> None:
        if "openid" not in (scope_to_list(grant.request.payload.scope) or []):
            return  # plain OAuth 2.0: no nonce rules
        super().validate_openid_authorization_request(grant, redirect_uri)

    def exists_nonce(self, nonce: str, request) -> bool:
        """authlib's nonce check at the authorization request: only its form is checked here."""
        if not isinstance(nonce, str) or not nonce.isprintable() or len(nonce) > 255:
            raise InvalidRequestError("'nonce' must be at most 255 printable characters.")
        return False  # a used nonce is refused by the code's unique index (save_authorization_code)

    def resolve_client_private_key(self, client):
        return keys.signing_key(client.id_token_alg)[1]

    def get_client_algorithm(self, client) -> str:
        return client.id_token_alg

    def get_encode_header(self, client) -> dict:
        return {"alg": client.id_token_alg, "kid": keys.signing_key(client.id_token_alg)[0],
                "typ": "JWT"}

    def get_client_claims(self, client) -> dict:
        ttl = client.setting("id_token_ttl", current_app.config["ID_TOKEN_TTL"])
        return {"iss": current_app.config["ISSUER"], "aud": client.client_id,
                "exp": int(time.time()) + ttl}

    def get_authorization_code_claims(self, authorization_code: IssuedCode) -> dict:
        claims = super().get_authorization_code_claims(authorization_code)
        claims["auth_time"] = authorization_code.get_auth_time()
        if authorization_code.claims.get("sid"):
            claims["sid"] = authorization_code.claims["sid"]
        return claims

    def generate_user_info(self, user: User, scope: str):
        return claims_for(user, scope)

    def encode_id_token(self, token: dict, request) -> str:
        """authlib's ID token, with the app's custom scopes released too."""
        claims = self.get_compatible_claims(request)
        if request.authorization_code:
            claims.update(self.get_authorization_code_claims(request.authorization_code))
        alg = request.client.id_token_alg
        half = create_half_hash(token["access_token"], alg) if token.get("access_token") else None
        if half is not None:
            claims["at_hash"] = half.decode()
        claims.update(claims_for(request.user, token["scope"], request.client.scope_claims()))
        return jwt.encode(self.get_encode_header(request.client), claims,
                          keys.signing_key(alg)[1], [alg])
