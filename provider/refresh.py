"""Refresh tokens: issued for ``offline_access``, rotated at every use, stored hashed.

Each use marks the presented token used (one conditional UPDATE, so two requests racing with the
same token cannot both win) and issues a new one of the same *family*. A used token presented
again means it was stolen or replayed: the whole family dies, with its access tokens (OAuth 2.0
Security BCP 4.14.2). A token has an idle lifetime (``refresh_token_idle_ttl``) and its family an
absolute one (``refresh_token_ttl``); both die when the session they came from is signed out,
the user is disabled, or the app's consent is withdrawn.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from authlib.oauth2.rfc6749 import InvalidGrantError
from authlib.oauth2.rfc6749.grants import RefreshTokenGrant
from flask import current_app

from models import RefreshToken, Token, User, utcnow
from provider.codes import TOKEN_ENDPOINT_AUTH_METHODS, token_hash
from security.audit import record


class RefreshCredential:
    """A presented refresh token, as authlib's grant reads it."""

    def __init__(self, row: RefreshToken) -> None:
        self.row = row

    def check_client(self, client) -> bool:
        return client.client_id == self.row.client_id

    def get_scope(self) -> str:
        return self.row.scope


class RefreshGrant(RefreshTokenGrant):
    """``grant_type=refresh_token`` with rotation and reuse detection."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_ENDPOINT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshCredential | None:
        """The live token ``refresh_token``; a spent one revokes its family."""
        if not isinstance(refresh_token, str) or len(refresh_token) > 200:
            return None
        row = RefreshToken.get_or_none(RefreshToken.token_hash == token_hash(refresh_token))
        if row is None or row.revoked_at is not None:
            return None
        if row.used_at is not None:
            reused(row)
            return None
        now = utcnow()
        if row.idle_expires_at <= now or row.absolute_expires_at <= now:
            return None
        return RefreshCredential(row)

    def authenticate_user(self, refresh_token: RefreshCredential) -> User | None:
        return User.get_or_none((User.id == refresh_token.row.user_id) & (User.status == "active"))

    def issue_token(self, user, refresh_token: RefreshCredential) -> dict:
        """Spend the presented token first: only the request that spends it gets new tokens."""
        row = refresh_token.row
        spent = RefreshToken.update(used_at=utcnow()).where(
            (RefreshToken.token_hash == row.token_hash) & RefreshToken.used_at.is_null()
            & RefreshToken.revoked_at.is_null()).execute()
        if not spent:
            reused(row)
            raise InvalidGrantError("The refresh token was already used.")
        self.request.ferry_refresh = row
        return super().issue_token(user, refresh_token)

    def revoke_old_credential(self, refresh_token: RefreshCredential) -> None:
        """Nothing left to do: :meth:`issue_token` spent it."""


def reused(row: RefreshToken) -> None:
    """A spent token came back: kill its family and say so in the audit log."""
    count = revoke_family(row.family)
    record("oauth.refresh_token_reused", user_id=row.user_id, client_id=row.client_id,
           tokens_revoked=count)


def store(token: dict, request, session_id: str | None) -> str | None:
    """Save the refresh token of ``token`` (if any); returns its family for the access token."""
    value = token.get("refresh_token")
    previous: RefreshToken | None = getattr(request, "ferry_refresh", None)
    if not value:
        return previous.family if previous else None
    client, now = request.client, utcnow()
    config = current_app.config
    idle = timedelta(seconds=client.setting("refresh_token_idle_ttl", config["REFRESH_TOKEN_IDLE_TTL"]))
    if previous is not None:
        # RFC 6749 6: the new refresh token has the scope of the one it replaces.
        family, scope, absolute = previous.family, previous.scope, previous.absolute_expires_at
        session_id, auth = previous.session_id, (previous.auth_time, previous.amr, previous.acr)
    else:
        code = request.ferry_code
        family, scope = secrets.token_urlsafe(24), token.get("scope", "")
        lifetime = client.setting("refresh_token_ttl", config["REFRESH_TOKEN_TTL"])
        absolute = now + timedelta(seconds=lifetime)
        auth = (code.get_auth_time(), code.get_amr(), code.get_acr())
    RefreshToken.create(
        token_hash=token_hash(value), family=family, client=client.client_id, user=request.user.id,
        scope=scope, session_id=session_id, auth_time=auth[0], amr=auth[1], acr=auth[2],
        created_at=now, idle_expires_at=min(now + idle, absolute), absolute_expires_at=absolute,
    )
    return family


def revoke_family(family: str) -> int:
    """Revoke every refresh token of ``family`` and the access tokens they bought."""
    now = utcnow()
    count = RefreshToken.update(revoked_at=now).where(
        (RefreshToken.family == family) & RefreshToken.revoked_at.is_null()).execute()
    count += Token.update(revoked=True).where(
        (Token.refresh_family == family) & ~Token.revoked).execute()
    return count


def revoke_families_of_code(code_hash: str) -> None:
    """A replayed code: the refresh tokens its tokens came with die too."""
    families = {row.refresh_family for row in Token.select(Token.refresh_family).where(
        (Token.code_hash == code_hash) & Token.refresh_family.is_null(False))}
    for family in families:
        revoke_family(family)


def revoke_where(condition_refresh, condition_access) -> int:
    """Revoke refresh and access tokens matching the two conditions; how many."""
    now = utcnow()
    count = RefreshToken.update(revoked_at=now).where(
        condition_refresh & RefreshToken.revoked_at.is_null()).execute()
    return count + Token.update(revoked=True).where(condition_access & ~Token.revoked).execute()


def revoke_session(session_id: str) -> int:
    """The session was signed out: its tokens die."""
    return revoke_where(RefreshToken.session_id == session_id, Token.session_id == session_id)


def revoke_app_for_user(user_id: str, client_id: str) -> int:
    """Consent withdrawn: the app's tokens for this user die."""
    return revoke_where((RefreshToken.user == user_id) & (RefreshToken.client == client_id),
                        (Token.user == user_id) & (Token.client == client_id))


def revoke_user(user_id: str, keep_session: str | None = None) -> int:
    """A new password: every token of the user dies but those of ``keep_session`` (the browser
    that changed it)."""
    refresh_condition, access_condition = RefreshToken.user == user_id, Token.user == user_id
    if keep_session is not None:
        refresh_condition &= (RefreshToken.session_id.is_null()
                              | (RefreshToken.session_id != keep_session))
        access_condition &= Token.session_id.is_null() | (Token.session_id != keep_session)
    return revoke_where(refresh_condition, access_condition)
