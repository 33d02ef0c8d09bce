"""Reading and writing the store's objects: revisioned, sealed, checked before they are saved.

A save names the revision it started from; if somebody saved the object since, it is refused
with :class:`Conflict` (nothing is lost: the second admin is told and reloads). Every save is
one transaction: the object, a :class:`~models.ConfigRevision` row (before and after, secrets
redacted) and the store's revision counter, which tells every server to reload.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import peewee
from flask import current_app

from models import ConfigObject, ConfigRevision, ConfigState, db, utcnow
from store import sealing
from store.kinds import is_secret, kind

#: A secret's value meaning "keep the one stored" (what the portal's form and the export hold).
KEEP = "secret:keep"
REDACTED = "(secret)"


class StoreError(Exception):
    """A save or delete the store refuses; ``problems`` say why, each naming its place."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class Conflict(StoreError):
    """Somebody saved the object after the revision this save started from."""


class ReadOnly(StoreError):
    """The object is defined in the configuration file: change it there."""


class Invalid(StoreError):
    """The object, or the deployment it would make, does not validate."""


@dataclass(frozen=True)
class Change:
    """One save or delete, as :func:`write` applies it."""

    kind: str
    name: str
    data: dict[str, Any] | None  # None: delete
    expected_revision: int | None  # None: create (or whatever is there, for imports)


def ring():
    """The running app's store keys."""
    return current_app.extensions["ferry.store_keyring"]


def get(kind_name: str, name: str) -> ConfigObject | None:
    """The stored object, or None."""
    return ConfigObject.get_or_none((ConfigObject.kind == kind_name) & (ConfigObject.name == name))


def all_objects() -> list[ConfigObject]:
    """Every stored object, by kind and name."""
    return list(ConfigObject.select().order_by(ConfigObject.kind, ConfigObject.name))


def revision() -> int:
    """The store's revision counter (0: nothing saved yet)."""
    row = ConfigState.get_or_none(ConfigState.id == 1)
    return row.revision if row else 0


def plain(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with its secrets unsealed (``env:NAME`` references stay as written)."""
    keys = ring()
    return {field: sealing.unseal(keys, value) if sealing.is_sealed(value) else value
            for field, value in data.items()}


def redacted(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """``data`` fit for the revision log and the screen: every secret reads ``(secret)``."""
    if data is None:
        return None
    return {field: REDACTED if sealing.is_sealed(value) or is_secret(field, value) else value
            for field, value in data.items()}


def resolve_keeps(kind_name: str, name: str, data: dict[str, Any],
                  current: dict[str, Any] | None) -> dict[str, Any]:
    """``data`` with every :data:`KEEP` replaced by the secret held now (plain)."""
    resolved = copy.deepcopy(data)
    for field, value in data.items():
        if value == KEEP:
            if current is None or field not in current:
                raise Invalid(f"{kind_name}.{name}.{field}: there is no secret to keep; enter one")
            resolved[field] = current[field]
    return resolved


def sealed(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as the store keeps it: secrets sealed (``env:`` references are not secrets)."""
    keys = ring()
    return {field: sealing.seal(keys, value)
            if is_secret(field, value) and not value.startswith("env:") else value
            for field, value in data.items()}


def write(changes: list[Change], actor: str) -> int:
    """Apply ``changes`` in one transaction (all or nothing); the store's new revision.

    ``data`` is plain (secrets in clear, already resolved); it is sealed here.
    """
    now = utcnow()
    with db.atomic():
        for change in changes:
            _write_one(change, actor, now)
        ConfigState.insert(id=1, revision=0).on_conflict_ignore().execute()
        ConfigState.update(revision=ConfigState.revision + 1).where(ConfigState.id == 1).execute()
        return revision()


def _write_one(change: Change, actor: str, now) -> None:
    kind(change.kind)  # KeyError for an unknown kind: a programming error
    row = get(change.kind, change.name)
    if change.expected_revision is not None and (row is None or row.revision != change.expected_revision):
        by = f" by {row.updated_by} at {row.updated_at:%Y-%m-%d %H:%M} UTC" if row else ""
        raise Conflict(f"{change.kind}.{change.name}: changed{by} since you opened it "
                       "(or deleted); reload it and make your change again")
    before = redacted(row.data) if row else None
    if change.data is None:
        if row is None:
            return
        ConfigObject.delete().where(ConfigObject.id == row.id).execute()
        _log(change, row.revision + 1, "delete", before, None, actor, now)
        return
    stored = sealed(change.data)
    if row is None:
        try:
            with db.atomic():
                ConfigObject.create(kind=change.kind, name=change.name, data=stored, revision=1,
                                    created_at=now, created_by=actor, updated_at=now,
                                    updated_by=actor)
        except peewee.IntegrityError:
            raise Conflict(f"{change.kind}.{change.name}: somebody created it a moment ago; "
                           "reload and look") from None
        _log(change, 1, "create", None, redacted(stored), actor, now)
        return
    updated = (ConfigObject.update(data=stored, revision=row.revision + 1, updated_at=now,
                                   updated_by=actor)
               .where((ConfigObject.id == row.id) & (ConfigObject.revision == row.revision))
               .execute())
    if not updated:  # saved by somebody else between the read and this write
        raise Conflict(f"{change.kind}.{change.name}: changed by somebody else just now; reload it")
    _log(change, row.revision + 1, "update", before, _marked(stored, row.data), actor, now)


def _marked(stored: dict, old: dict) -> dict:
    """The redacted ``after``, saying which secrets changed (never what they are)."""
    after = redacted(stored) or {}
    keys = ring()
    for field, value in stored.items():
        if sealing.is_sealed(value):
            was = old.get(field)
            same = sealing.is_sealed(was) and sealing.unseal(keys, was) == sealing.unseal(keys, value)
            after[field] = "(kept)" if same else "(changed)"
    return after


def _log(change: Change, number: int, action: str, before, after, actor: str, now) -> None:
    ConfigRevision.create(kind=change.kind, name=change.name, revision=number, action=action,
                          before=before, after=after, actor=actor, at=now)


def history(kind_name: str | None = None, name: str | None = None, limit: int = 100):
    """The latest revisions, newest first (of one object when named)."""
    query = ConfigRevision.select().order_by(ConfigRevision.at.desc(), ConfigRevision.id.desc())
    if kind_name:
        query = query.where(ConfigRevision.kind == kind_name)
    if name:
        query = query.where(ConfigRevision.name == name)
    return list(query.limit(limit))


def rotate_keys() -> int:
    """Seal every secret again under the first store key; how many."""
    keys = ring()
    count = 0
    with db.atomic():
        for row in all_objects():
            data = {field: sealing.rotate(keys, value) if sealing.is_sealed(value) else value
                    for field, value in row.data.items()}
            count += sum(1 for value in row.data.values() if sealing.is_sealed(value))
            ConfigObject.update(data=data).where(ConfigObject.id == row.id).execute()
    return count
