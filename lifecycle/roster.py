"""The roster: every user known at the legacy side, and whether they have migrated.

An entry matches a local user by the keys lazy migration itself uses: the legacy subject of the
user's link to that connector, or the normalised e-mail, username or phone. :func:`note_migrated`
runs after every provisioning (lazy migration, bulk import, linking), so "remaining" is the set
of entries without a user; a migrated user the roster did not list gets an entry of its own
(``source = "migration"``), so the migrated count is never below what the database holds.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

import peewee

from models import LegacyLink, RosterEntry, User, db, utcnow
from users.mapping import MappingError, parse_spec

if TYPE_CHECKING:
    from connectors.base import ExternalIdentity

log = logging.getLogger(__name__)
#: The identifier columns of an entry, in the order they are trusted when matching.
KEYS = ("subject", "email", "username", "phone")


def _keys_of(user: User, subject: str | None) -> dict[str, str]:
    keys = {"subject": subject, "email": user.email, "username": user.username,
            "phone": user.phone}
    return {key: value for key, value in keys.items() if value}


def _matching(connector: str, keys: dict[str, str]) -> peewee.Expression | None:
    clause = None
    for key, value in keys.items():
        term = getattr(RosterEntry, key) == value
        clause = term if clause is None else clause | term
    return None if clause is None else (RosterEntry.connector == connector) & clause


def note_migrated(user: User, connector: str, subject: str | None, when: datetime | None = None,
                  source: str = "migration") -> int:
    """Mark the roster entries of ``user`` at ``connector`` as migrated; return how many.

    Entries already migrated keep their first date. When the roster has no entry for the user
    one is added (``source``), unless a concurrent call added it first. Never raises: the roster
    is bookkeeping, and a sign-in must not fail over it.
    """
    when = when or utcnow()
    keys = _keys_of(user, subject)
    clause = _matching(connector, keys)
    if clause is None:
        return 0
    try:
        with db.atomic():
            changed = (RosterEntry.update(user_id=user.id, migrated_at=when, updated_at=when)
                       .where(clause & RosterEntry.user_id.is_null()).execute())
            if changed or RosterEntry.select().where(clause).exists():
                if subject and not subject.startswith("roster:"):  # learn it for later pulls
                    (RosterEntry.update(subject=subject)
                     .where(clause & RosterEntry.subject.is_null()
                            & (RosterEntry.user_id == user.id)).execute())
                return changed
            with db.atomic():
                RosterEntry.create(connector=connector, source=source, user_id=user.id,
                                   migrated_at=when, added_at=when, updated_at=when, **keys)
            return 1
    except peewee.IntegrityError:
        return 0  # a concurrent call (or an entry of another person with one shared key) won
    except peewee.DatabaseError:
        log.exception("roster: could not note the migration of %s at %s", user.id, connector)
        return 0


def match_existing(connector: str) -> int:
    """Tie the unmatched entries of ``connector`` to the users that already exist; return how
    many matched. Used after an import or a pull, for users who migrated before the roster
    was loaded. Subjects match through the users' legacy links; the other keys directly."""
    matched = 0
    now = utcnow()
    links = (LegacyLink.select(LegacyLink.subject, LegacyLink.user, LegacyLink.migrated_at)
             .join(RosterEntry, on=((RosterEntry.connector == LegacyLink.connector)
                                    & (RosterEntry.subject == LegacyLink.subject)))
             .where((LegacyLink.connector == connector) & RosterEntry.user_id.is_null()))
    for link in links:
        matched += (RosterEntry.update(user_id=link.user_id, migrated_at=link.migrated_at,
                                       updated_at=now)
                    .where((RosterEntry.connector == connector)
                           & (RosterEntry.subject == link.subject)
                           & RosterEntry.user_id.is_null()).execute())
    for key in ("email", "username", "phone"):
        column = getattr(User, key)
        owners = (RosterEntry.select(RosterEntry.id, User.id.alias("owner"), User.created_at)
                  .join(User, on=(getattr(RosterEntry, key) == column))
                  .where((RosterEntry.connector == connector) & RosterEntry.user_id.is_null())
                  .dicts())
        for row in owners:
            matched += (RosterEntry.update(user_id=row["owner"], migrated_at=row["created_at"],
                                           updated_at=now)
                        .where((RosterEntry.id == row["id"]) & RosterEntry.user_id.is_null())
                        .execute())
    return matched



def closed_identity(connector: str, identifier: str) -> ExternalIdentity | None:
    """The roster's record of ``identifier`` at a ``closed`` connector, as the legacy identity
    it would have looked up, or None when the roster does not know it.

    The claims are the entry's attributes, with its identifiers put where the connector's
    mapping reads them (top-level paths only), so ``create_user`` maps them as it would have
    mapped the legacy profile. The subject is the legacy one when the roster has it.
    """
    from connectors import get
    from connectors.base import ExternalIdentity

    entry = (RosterEntry.select()
             .where((RosterEntry.connector == connector)
                    & ((RosterEntry.email == identifier) | (RosterEntry.username == identifier)
                       | (RosterEntry.phone == identifier)))
             .order_by(RosterEntry.id).first())
    if entry is None:
        return None
    claims = dict(entry.attributes or {})
    mapping = get(connector).mapping
    for key in ("email", "username", "phone"):
        value = getattr(entry, key)
        try:
            path = parse_spec(mapping[key]).path if key in mapping else key
        except MappingError:
            continue
        if value and path and "." not in path and "[" not in path:
            claims.setdefault(path, value)
    return ExternalIdentity(connector, entry.subject or f"roster:{entry.id}", claims)


def closed_lookup(identifier: str) -> ExternalIdentity | None:
    """:func:`closed_identity` at the first connector in mode ``closed`` whose roster knows
    ``identifier`` (in configuration order), or None."""
    import connectors

    for name, connector in connectors.instances().items():
        if connector.settings.migration == "closed":
            identity = closed_identity(name, identifier)
            if identity is not None:
                return identity
    return None
