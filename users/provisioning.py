"""Creating or updating a local user from a legacy identity, atomically.

The legacy IDP has already said yes when this runs. One transaction creates the user, the link
to the legacy identity and the password credential, or nothing at all. ``(connector, subject)``
and the e-mail are unique in the database, so two first sign-ins of one person on two servers
produce one user: the loser of the race hits the constraint, rolls back, reads again and finds
the winner's link.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import peewee

from lifecycle import roster
from models import (
    LegacyLink,
    LegacyTombstone,
    PasswordCredential,
    UniqueAttribute,
    User,
    db,
    fast,
    utcnow,
)
from users.mapping import STANDARD_ATTRIBUTES, map_claims

if TYPE_CHECKING:
    from connectors.base import ExternalIdentity

log = logging.getLogger(__name__)

Outcome = Literal["created", "linked", "conflict", "closed"]
_RACE_RETRIES = 3


@dataclass(frozen=True)
class Provisioned:
    outcome: Outcome
    user: User | None  # None for a conflict, or a closed account


def provision(
    identity: ExternalIdentity,
    mapping: dict[str, str],
    password_hash: str | None = None,
    link_verified_email: bool = False,
) -> Provisioned:
    """Create the user of ``identity``, or refresh the one already linked to it.

    ``closed``: an operator deleted the user migrated from this identity (a tombstone keeps
    it from coming back; see :mod:`users.admin_ops`).

    ``conflict``: another local user already owns the mapped e-mail (or username, or the value of a
custom attribute the user schema declares unique); linking them silently
    would let whoever controls the legacy account take over the local one, so nothing changes,
    unless the operator trusts this IdP's verified e-mails (``link_verified_email``) and the
    claims say the e-mail is verified.
    """
    profile = map_claims(identity.claims, mapping)
    if fast.exists(LegacyTombstone, connector=identity.connector, subject=identity.subject) \
            and _find_link(identity) is None:
        return Provisioned("closed", None)  # an operator deleted this user: not again
    for _attempt in range(_RACE_RETRIES):
        try:
            with db.atomic():
                result = _provision_once(identity, profile, password_hash, link_verified_email)
        except peewee.IntegrityError:
            continue  # a concurrent first sign-in committed first; the next read sees it
        if result.user is not None:
            roster.note_migrated(result.user, identity.connector, identity.subject)
        return result
    raise RuntimeError(f"could not provision {identity.connector}:{identity.subject}")


def _provision_once(
    identity: ExternalIdentity, profile: dict, password_hash: str | None, link_verified_email: bool
) -> Provisioned:
    now = utcnow()
    columns = {key: value for key, value in profile.items() if key in STANDARD_ATTRIBUTES}
    custom = {key: value for key, value in profile.items() if key not in STANDARD_ATTRIBUTES}
    uniques = _unique_values(custom)
    link = _find_link(identity)
    email = columns.get("email")
    owner = fast.get(User, email=email) if email and link is None else None
    if owner is not None:
        # Read committed: a concurrent first sign-in may have committed user and link between
        # the two reads above. Look again before calling it a conflict.
        link = _find_link(identity)
    if link is not None:
        user = link.user
        for name in _held_elsewhere(uniques, user.id):
            # Never lock a migrated user out over it: the old value stays, the operator is told.
            log.warning("connector %s: %s of legacy user %s already belongs to another user; "
                        "not updated", identity.connector, name, identity.subject)
            custom.pop(name)
            uniques.pop(name)
        _refresh_profile(user, columns, custom, now)
        _store_uniques(user, uniques)
        LegacyLink.update(last_seen_at=now).where(LegacyLink.id == link.id).execute()
        if password_hash:
            _store_password(user, password_hash, identity.connector, now)
        return Provisioned("linked", user)

    if owner is not None:
        if not (link_verified_email and profile.get("email_verified") is True):
            return Provisioned("conflict", None)
        link_identity(owner, identity)
        return Provisioned("linked", owner)

    username = columns.get("username")
    if username and fast.exists(User, username=username):
        return Provisioned("conflict", None)  # a sign-in identifier: same rule as the e-mail
    if held := _held_elsewhere(uniques, None):
        log.warning("connector %s: legacy user %s: %s already belong(s) to another user (unique "
                    "in the user schema); not created", identity.connector, identity.subject,
                    ", ".join(held))
        return Provisioned("conflict", None)
    phone = columns.get("phone")
    if phone and fast.exists(User, phone=phone):
        # Shared numbers are common in legacy data (a family line); the phone is no sign-in
        # identifier here, so the user is created without it rather than refused.
        log.warning("connector %s: phone of %s already belongs to another user; not stored",
                    identity.connector, identity.subject)
        columns.pop("phone")
        columns.pop("phone_verified", None)
    user = fast.insert(User, **columns, attributes=custom, created_at=now, updated_at=now)
    _store_uniques(user, uniques)
    fast.insert(LegacyLink, user=user, connector=identity.connector, subject=identity.subject,
                migrated_at=now, last_seen_at=now)
    if password_hash:  # a new user has no credential yet: one INSERT
        fast.insert(PasswordCredential, user=user, hash=password_hash,
                    source=f"legacy:{identity.connector}", created_at=now, updated_at=now)
    return Provisioned("created", user)


def _find_link(identity: ExternalIdentity) -> LegacyLink | None:
    """The link of ``identity``, its user loaded with it; None for a user not migrated yet.

    Two keyed reads (``models.fast``): every first sign-in asks, and peewee's join took longer
    to write than both take to run."""
    link = fast.get(LegacyLink, connector=identity.connector, subject=identity.subject)
    if link is not None:
        link.user = fast.get(User, id=link.user_id)  # the cascade keeps it there
    return link


def _refresh_profile(user: User, columns: dict, custom: dict, now) -> None:
    """Keep the profile in step with the legacy IDP; identifiers are not changed here.

    A verified flag only goes up: the identifiers are not refreshed, so a ``false`` from the
    legacy IDP says nothing new about the address Ferry already proved (by a code, say).
    """
    changes = {key: value for key, value in columns.items()
               if key not in ("email", "phone", "username") and getattr(user, key) != value
               and not (key in ("email_verified", "phone_verified") and getattr(user, key))}
    attributes = {**(user.attributes or {}), **custom}
    if changes or attributes != user.attributes:
        User.update(**changes, attributes=attributes, updated_at=now).where(
            User.id == user.id
        ).execute()
        for key, value in changes.items():
            setattr(user, key, value)
        user.attributes = attributes


def _unique_values(custom: dict) -> dict[str, str]:
    """The custom attributes the live user schema declares unique, as text, when set."""
    from users.schema import live

    spec = live().attributes
    return {name: str(value) for name, value in custom.items()
            if name in spec and spec[name].unique and value not in (None, "")
            and len(str(value)) <= UniqueAttribute.value.max_length}


def _held_elsewhere(uniques: dict[str, str], user_id: str | None) -> list[str]:
    """The attributes of ``uniques`` whose value another user already has."""
    held = []
    for name, value in uniques.items():
        query = UniqueAttribute.select().where((UniqueAttribute.name == name)
                                               & (UniqueAttribute.value == value))
        if user_id is not None:
            query = query.where(UniqueAttribute.user != user_id)
        if query.exists():
            held.append(name)
    return held


def _store_uniques(user: User, uniques: dict[str, str]) -> None:
    """Keep ``user``'s unique values (the index refuses a value another user took meanwhile:
    the IntegrityError rolls the whole provisioning back, and the retry reads the winner)."""
    for name, value in uniques.items():
        (UniqueAttribute.delete().where((UniqueAttribute.user == user.id)
                                        & (UniqueAttribute.name == name)).execute())
        UniqueAttribute.create(user=user.id, name=name, value=value)


def _store_password(user: User, password_hash: str, connector: str, now) -> None:
    source = f"legacy:{connector}"
    updated = (
        PasswordCredential.update(hash=password_hash, source=source, updated_at=now)
        .where(PasswordCredential.user == user)
        .execute()
    )
    if not updated:
        PasswordCredential.create(
            user=user, hash=password_hash, source=source, created_at=now, updated_at=now
        )


def link_identity(user: User, identity: ExternalIdentity) -> None:
    """Tie ``identity`` to an existing ``user`` (after proof, or by the operator's policy)."""
    now = utcnow()
    LegacyLink.create(user=user, connector=identity.connector, subject=identity.subject,
                      migrated_at=now, last_seen_at=now)
