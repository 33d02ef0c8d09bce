"""Which claims an app gets about a user, by scope (OpenID Connect Core 5.4), and the custom
scopes an app maps to custom attributes (``scope_claims = { employee = ["employee_id"] }``)."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import scope_to_list
from authlib.oidc.core import UserInfo

from models import User

_SCOPE_CLAIMS = {
    "email": ("email", "email_verified"),
    "profile": ("name", "given_name", "family_name", "locale", "preferred_username", "updated_at"),
    "phone": ("phone_number", "phone_number_verified"),
}

#: Claims of the ID token itself, beside the user's (OpenID Connect Core 2, 3.1.3.6).
TOKEN_CLAIMS = ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash"]


def user_claims(user: User) -> dict:
    """Every standard claim Ferry knows about ``user`` (None where it knows nothing)."""
    updated = getattr(user, "updated_at", None) or getattr(user, "created_at", None)
    return {
        "email": user.email,
        "email_verified": bool(user.email_verified),
        "name": user.name or " ".join(p for p in (user.given_name, user.family_name) if p) or None,
        "given_name": user.given_name,
        "family_name": user.family_name,
        "locale": user.locale,
        "preferred_username": user.username,
        "updated_at": int(updated.timestamp()) if updated else None,
        "phone_number": user.phone,
        "phone_number_verified": bool(user.phone_verified) if user.phone else None,
    }


def claims_for(user: User, scope: str, scope_claims: dict[str, list[str]] | None = None) -> UserInfo:
    """The claims ``scope`` releases about ``user``; custom scopes release custom attributes."""
    scopes = scope_to_list(scope) or []
    available = user_claims(user)
    info = UserInfo(sub=user.id)
    for name, claims in _SCOPE_CLAIMS.items():
        if name in scopes:
            info.update({c: available[c] for c in claims if available.get(c) is not None})
    attributes = user.attributes or {}
    for name, claims in (scope_claims or {}).items():
        if name in scopes:
            info.update({c: attributes[c] for c in claims if attributes.get(c) is not None})
    return info


SUPPORTED_CLAIMS = list(dict.fromkeys(
    [*TOKEN_CLAIMS, *(c for claims in _SCOPE_CLAIMS.values() for c in claims)]))
