"""Which claims an app gets about a user, by scope (OpenID Connect Core 5.4)."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import scope_to_list
from authlib.oidc.core import UserInfo

from models import User

_SCOPE_CLAIMS = {
    "email": ("email", "email_verified"),
    "profile": ("name", "given_name", "family_name", "locale", "preferred_username"),
    "phone": ("phone_number", "phone_number_verified"),
}


def user_claims(user: User) -> dict:
    return {
        "email": user.email,
        "email_verified": bool(user.email_verified),
        "name": user.name or " ".join(p for p in (user.given_name, user.family_name) if p) or None,
        "given_name": user.given_name,
        "family_name": user.family_name,
        "locale": user.locale,
        "preferred_username": user.username,
        "phone_number": user.phone,
        "phone_number_verified": bool(user.phone_verified) if user.phone else None,
    }


def claims_for(user: User, scope: str) -> UserInfo:
    scopes = scope_to_list(scope) or []
    available = user_claims(user)
    info = UserInfo(sub=user.id)
    for name, claims in _SCOPE_CLAIMS.items():
        if name in scopes:
            info.update({c: available[c] for c in claims if available.get(c) is not None})
    return info


SUPPORTED_CLAIMS = ["sub", *(c for claims in _SCOPE_CLAIMS.values() for c in claims)]
