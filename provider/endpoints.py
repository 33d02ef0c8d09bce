"""Token revocation (RFC 7009), token introspection (RFC 7662) and RP-initiated logout, on
Ferry's tables. Introspection is for confidential apps and tells each app about its own tokens
only; revocation also takes public apps (a single-page app signing its user out)."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint
from flask import current_app
from joserfc import jwt
from joserfc.errors import JoseError

from models import RefreshToken, Token, utcnow
from provider import keys, refresh
from provider.codes import TOKEN_ENDPOINT_AUTH_METHODS, token_hash
from security.audit import record
from users import sessions

CONFIDENTIAL_METHODS = [m for m in TOKEN_ENDPOINT_AUTH_METHODS if m != "none"]


class _Access:
    """An access token row, as the endpoints read it."""

    kind = "access_token"

    def __init__(self, row: Token) -> None:
        self.row = row

    def check_client(self, client) -> bool:
        return client.client_id == self.row.client_id

    def is_expired(self) -> bool:
        return self.row.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return bool(self.row.revoked)

    def expires_at(self) -> int:
        return int(self.row.expires_at.timestamp())

    def issued_at(self) -> int:
        return int(self.row.issued_at.timestamp())


class _Refresh(_Access):
    kind = "refresh_token"

    def is_expired(self) -> bool:
        now = utcnow()
        return self.row.idle_expires_at <= now or self.row.absolute_expires_at <= now

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None or self.row.used_at is not None

    def expires_at(self) -> int:
        return int(min(self.row.idle_expires_at, self.row.absolute_expires_at).timestamp())

    def issued_at(self) -> int:
        return int(self.row.created_at.timestamp())


def find_token(value: str, hint: str | None) -> _Access | None:
    """The access or refresh token ``value`` (the hint only orders the lookups)."""
    if not isinstance(value, str) or not value or len(value) > 200:
        return None
    digest = token_hash(value)
    lookups = [_find_access, _find_refresh]
    if hint == "refresh_token":
        lookups.reverse()
    for lookup in lookups:
        found = lookup(digest)
        if found is not None:
            return found
    return None


def _find_access(digest: str) -> _Access | None:
    row = Token.get_or_none(Token.access_token_hash == digest)
    return _Access(row) if row else None


def _find_refresh(digest: str) -> _Refresh | None:
    row = RefreshToken.get_or_none(RefreshToken.token_hash == digest)
    return _Refresh(row) if row else None


class FerryRevocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = TOKEN_ENDPOINT_AUTH_METHODS

    def query_token(self, token_string, token_type_hint):
        return find_token(token_string, token_type_hint)

    def revoke_token(self, token: _Access, request) -> None:
        """An access token dies alone; a refresh token takes its family with it (RFC 7009 2.1)."""
        if isinstance(token, _Refresh):
            refresh.revoke_family(token.row.family)
        else:
            Token.update(revoked=True).where(Token.access_token_hash == token.row.access_token_hash).execute()
        record("oauth.token_revoked", user_id=token.row.user_id, client_id=token.row.client_id,
               kind=token.kind)


class FerryIntrospection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CONFIDENTIAL_METHODS

    def query_token(self, token_string, token_type_hint):
        return find_token(token_string, token_type_hint)

    def check_permission(self, token: _Access, client, request) -> bool:
        return token.check_client(client)

    def introspect_token(self, token: _Access) -> dict:
        row = token.row
        if row.user.status != "active":
            return {"active": False}
        return {
            "active": True, "client_id": row.client_id, "token_type": "Bearer" if token.kind ==
            "access_token" else "refresh_token", "scope": row.scope, "sub": row.user_id,
            "aud": row.client_id, "iss": current_app.config["ISSUER"], "exp": token.expires_at(),
            "iat": token.issued_at(),
        }


class FerryEndSession(EndSessionEndpoint):
    """RP-initiated logout; a hint for someone else than the signed-in user asks first."""

    def get_server_jwks(self):
        return keys.public_jwks()

    def _validate_id_token_hint(self, id_token_hint: str) -> dict:
        claims = super()._validate_id_token_hint(id_token_hint)
        if claims.get("iss") != current_app.config["ISSUER"]:
            raise InvalidRequestError("The id_token_hint was not issued here.")
        return claims

    def end_session(self, end_session_request) -> None:
        user = sessions.sign_out()
        client = end_session_request.client
        record("signout", user_id=user.id if user else None, client_id=client.client_id if client else None)


def hint_subject(id_token_hint: str | None) -> str | None:
    """The ``sub`` of an ID token Ferry signed (expired or not), or None if it is not one."""
    if not id_token_hint or not isinstance(id_token_hint, str) or len(id_token_hint) > 8192:
        return None
    try:
        token = jwt.decode(id_token_hint, keys.public_key_set(), algorithms=list(keys.ALGORITHMS))
    except (JoseError, ValueError, TypeError):
        return None
    if token.claims.get("iss") != current_app.config["ISSUER"]:
        return None
    subject = token.claims.get("sub")
    return subject if isinstance(subject, str) else None
