"""Consent: which apps a user allowed to receive what, remembered until withdrawn.

Apps are first-party by default (``consent = "implicit"``: no page). An app with
``consent = "required"`` asks once per new set of scopes. ``prompt=consent`` always asks.
``offline_access`` (a refresh token) is granted only after the user allowed it on the consent
page, now or before (OpenID Connect Core 11); asked for without ``prompt=consent`` and never
allowed, it is dropped from the request, as the specification says.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import scope_to_list
from peewee import IntegrityError

from models import ConsentGrant, User, db, utcnow
from provider import refresh
from provider.clients import Client

OFFLINE = "offline_access"


def requested_scopes(client: Client, parameters: dict[str, str]) -> list[str]:
    """The scopes of the request that the app may receive, in the request's order."""
    return scope_to_list(client.get_allowed_scope(parameters.get("scope", ""))) or []


def remembered(client: Client, user: User) -> set[str] | None:
    """The scopes the user allowed this app, or None if never."""
    row = ConsentGrant.get_or_none((ConsentGrant.user == user.id) & (ConsentGrant.client == client.client_id))
    return set(row.scopes) if row else None


def needed(client: Client, user: User, parameters: dict[str, str]) -> bool:
    """Whether the consent page must be shown before a code is issued."""
    if "consent" in parameters.get("prompt", "").split():
        return True
    if not client.consent_required:
        return False
    granted = remembered(client, user)
    return granted is None or not set(requested_scopes(client, parameters)) - {OFFLINE} <= granted


def granted_scope(client: Client, user: User, parameters: dict[str, str], consented: bool) -> str:
    """The scope the code carries: ``offline_access`` only when allowed (see the module)."""
    scopes = requested_scopes(client, parameters)
    if OFFLINE in scopes:
        allowed = "refresh_token" in client.grant_types and (
            consented or OFFLINE in (remembered(client, user) or set()))
        if not allowed:
            scopes.remove(OFFLINE)
    return " ".join(scopes)


def remember(client: Client, user: User, scopes: list[str]) -> None:
    """The user allowed ``scopes``: add them to what this app may have."""
    with db.atomic():
        row = ConsentGrant.get_or_none(
            (ConsentGrant.user == user.id) & (ConsentGrant.client == client.client_id))
        if row is None:
            try:
                with db.atomic():
                    ConsentGrant.create(user=user.id, client=client.client_id, scopes=sorted(set(scopes)))
                return
            except IntegrityError:  # the same user allowed it in another tab just now
                row = ConsentGrant.get(
                    (ConsentGrant.user == user.id) & (ConsentGrant.client == client.client_id))
        ConsentGrant.update(scopes=sorted(set(row.scopes) | set(scopes)), granted_at=utcnow()).where(
            ConsentGrant.id == row.id).execute()


def grants(user: User) -> list[ConsentGrant]:
    """What the user allowed, app by app, newest first (for the account page)."""
    return list(ConsentGrant.select().where(ConsentGrant.user == user.id)
                .order_by(ConsentGrant.granted_at.desc()))


def withdraw(user: User, client_id: str) -> bool:
    """Forget the user's consent for the app and revoke the app's tokens for the user."""
    deleted = ConsentGrant.delete().where(
        (ConsentGrant.user == user.id) & (ConsentGrant.client == client_id)).execute()
    if deleted:
        refresh.revoke_app_for_user(user.id, client_id)
    return bool(deleted)
