"""The live configuration store: apps, connectors, journeys, branding and the user schema that
live in the database, revisioned, and seen by every server within seconds of a change.

The one interface the rest of Ferry (the admin portal, the import command) uses:

* :func:`view` / :func:`views`: an object as the portal shows it (source, revision, secrets
  redacted), for the file's objects and the store's alike;
* :func:`save` and :func:`delete`: checked, revisioned writes with optimistic concurrency;
* :func:`apply`: several changes at once, all or nothing (``ferry import``).

Modules: ``kinds`` (what is stored, which fields are secrets), ``sealing`` (Fernet keys with
rotation), ``objects`` (rows, revisions, conflicts), ``live`` (the running configuration and
its pick-up), ``exchange`` (TOML export and import), ``cli``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, request

from models import db
from store import live, objects
from store.kinds import KINDS, SINGLETON, kind
from store.objects import KEEP, Change, Conflict, Invalid, ReadOnly, StoreError
from store.sealing import keyring

__all__ = ["KEEP", "Conflict", "Invalid", "ReadOnly", "StoreError", "ObjectView", "apply",
           "delete", "init_app", "save", "view", "views"]


def init_app(app: Flask) -> None:
    """Load the store's objects over the file's, before the connectors and journeys are built.

    The deployment other packages read (``settings.deployment(app)``) is the merged one from
    now on; the file's own stays at hand for the portal (read-only objects).
    """
    app.extensions["ferry.store_keyring"] = keyring(app.config["STORE_KEYS"], app.config["SECRET_KEY"])
    app.extensions["ferry.file_deployment"] = app.extensions["ferry.deployment"]
    with app.app_context(), db.connection_context():
        revision = objects.revision()
        stored = live.stored_tables()
    app.extensions["ferry.deployment"] = live.merged(app.extensions["ferry.file_deployment"], stored)
    app.extensions["ferry.store_loaded"] = live.Loaded(app.extensions["ferry.deployment"], revision)
    app.before_request(lambda: live.check(current_app._get_current_object()))

    from store import cli

    cli.init_app(app)


@dataclass(frozen=True)
class ObjectView:
    """An object as an operator sees it: where it comes from and its settings (secrets
    redacted to ``(secret)``)."""

    kind: str
    name: str
    source: str  # "file" (read-only) or "store"
    data: dict[str, Any]
    revision: int | None = None  # the store's objects only
    updated_by: str | None = None
    updated_at: Any = None

    @property
    def read_only(self) -> bool:
        """Objects of the configuration file are changed in the file."""
        return self.source == "file"


def views(kind_name: str) -> list[ObjectView]:
    """Every object of ``kind_name``, the file's and the store's, by name."""
    kind(kind_name)
    found: dict[str, ObjectView] = {}
    for row in objects.all_objects():
        if row.kind == kind_name:
            found[row.name] = _store_view(row)
    file_tables = getattr(live.file_deployment(), kind_name)
    if KINDS[kind_name].named:
        for name, data in file_tables.items():
            found[name] = ObjectView(kind_name, name, "file", objects.redacted(data))
    elif file_tables:
        found = {SINGLETON: ObjectView(kind_name, SINGLETON, "file", objects.redacted(file_tables))}
    return [found[name] for name in sorted(found)]


def view(kind_name: str, name: str) -> ObjectView | None:
    """One object, or None."""
    return next((item for item in views(kind_name) if item.name == name), None)


def _store_view(row) -> ObjectView:
    return ObjectView(row.kind, row.name, "store", objects.redacted(row.data), row.revision,
                      row.updated_by, row.updated_at)


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    return f"anonymous ({request.remote_addr})" if request else "cli"


def _check_change(kind_name: str, name: str) -> None:
    problem = kind(kind_name).check_name(name)
    if problem:
        raise Invalid(f"{kind_name}.{name}: {problem}")
    if live.file_defines(kind_name, name):
        raise ReadOnly(f"{kind_name}.{name} is defined in the configuration file "
                       f"({live.file_deployment().source}): change it there")


def save(kind_name: str, name: str, data: dict[str, Any], *, actor: str,
         expected_revision: int | None) -> int:
    """Create (``expected_revision=None``) or update one object; the store's new revision.

    ``data`` is plain; a secret given as :data:`KEEP` keeps the stored one. Raises
    :class:`Invalid`, :class:`ReadOnly` or :class:`Conflict`; then nothing was saved.
    """
    return apply([Change(kind_name, name, data, expected_revision)], actor=actor, strict=True)


def delete(kind_name: str, name: str, *, actor: str, expected_revision: int) -> int:
    """Delete one object of the store (checked like a save: nothing may still need it)."""
    return apply([Change(kind_name, name, None, expected_revision)], actor=actor, strict=True)


def apply(changes: list[Change], *, actor: str, strict: bool = False) -> int:
    """Check and write ``changes`` together (all or nothing), then run them in this process;
    the store's new revision. Other servers follow within :data:`live.CHECK_EVERY` seconds.

    ``strict``: a create must find no object and an update the revision it names (the
    portal); otherwise (an import) the object is written over whatever is there.
    """
    app = current_app._get_current_object()
    overrides: dict[tuple[str, str], dict | None] = {}
    for change in changes:
        _check_change(change.kind, change.name)
        current = objects.get(change.kind, change.name)
        if strict and change.expected_revision is None and current is not None:
            raise Conflict(f"{change.kind}.{change.name} exists already; choose another name")
        if change.data is not None:
            plain_now = objects.plain(current.data) if current else None
            change_data = objects.resolve_keeps(change.kind, change.name, change.data, plain_now)
            overrides[(change.kind, change.name)] = change_data
        else:
            overrides[(change.kind, change.name)] = None
    built = live.validate(app, overrides)
    resolved = [Change(c.kind, c.name, overrides[(c.kind, c.name)],
                       c.expected_revision if strict else None) for c in changes]
    revision = objects.write(resolved, _actor(actor))
    live.swap(app, built, revision)
    return revision
