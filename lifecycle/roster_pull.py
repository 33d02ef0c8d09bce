"""``flask --app app ferry roster pull NAME [--restart]``: fill the roster from a legacy listing.

The connector lists its users page by page (:mod:`connectors.listing`; LDAP, Cognito, the hash
sources and the REST contract can), and each page is stored in one transaction: an entry per
person, matched by the same keys as lazy migration (legacy subject, normalised e-mail,
username, phone), added with ``source = "pull"`` or brought up to date. After each committed
page the cursor of the next is kept in the instance folder (``roster-pull-<NAME>.json``), so a
pull that stopped half-way (the legacy IDP went away, Ferry was stopped) resumes from there;
``--restart`` starts from the first page. Storing is idempotent either way: a page stored twice,
or a second pull, changes nothing. When the listing is complete the file is removed and the
entries are matched to users who migrated before (:func:`lifecycle.roster.match_existing`).

Two people of the legacy side who share an identifier (a family e-mail address) are never
merged: an entry whose subject is another's keeps the identifier, and the second person's
entry is stored without it. Exit status: 0 done; 1 the connector cannot list, or the legacy IDP
was unavailable (the message names the page; the pages before it are kept).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from dataclasses import asdict, dataclass
from typing import Any, NoReturn

import click
import peewee
from flask import current_app

from connectors.base import Connector, LegacyUnavailable
from connectors.listing import DEFAULT_PAGE_SIZE, ListedUser
from lifecycle import roster
from lifecycle.cli import roster_group
from models import RosterEntry, db, utcnow

log = logging.getLogger(__name__)
#: The identifier columns of an entry, in the order they are trusted when matching.
KEYS = roster.KEYS
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass
class PullState:
    """Where a pull of one connector stands: the next page's cursor and the counts so far."""

    connector: str
    cursor: str | None = None
    pages: int = 0
    listed: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    started_at: str = ""

    @staticmethod
    def path(instance_path: str, connector: str) -> str:
        """The state file of ``connector`` in the instance folder."""
        return os.path.join(instance_path, f"roster-pull-{_UNSAFE.sub('_', connector)}.json")

    @classmethod
    def load(cls, path: str, connector: str) -> PullState | None:
        """The saved state of an unfinished pull, or None (none, or unreadable: logged)."""
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
            state = cls(**data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as error:
            log.warning("roster pull: ignoring the unreadable state file %s (%s)", path, error)
            return None
        return state if state.connector == connector else None

    def save(self, path: str) -> None:
        """Write the state atomically (a crash leaves the previous one)."""
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = f"{path}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(asdict(self), handle)
        os.replace(temporary, path)


# -- storing one page ---------------------------------------------------------------------------
def store_page(connector: str, users: list[ListedUser]) -> dict[str, int]:
    """Upsert ``users`` into the roster of ``connector`` in one transaction; the counts of
    ``added``, ``updated``, ``unchanged`` and ``skipped`` (nothing left to store them by)."""
    counts = dict.fromkeys(("added", "updated", "unchanged", "skipped"), 0)
    now = utcnow()
    with db.atomic():
        for user in users:
            try:
                with db.atomic():
                    outcome = upsert(connector, user, now)
            except peewee.IntegrityError:
                # A sign-in added this person's entry meanwhile (note_migrated): read it now.
                with db.atomic():
                    outcome = upsert(connector, user, now)
            counts[outcome] += 1
    return counts


def upsert(connector: str, user: ListedUser, now: Any) -> str:
    """Store one listed user: ``added``, ``updated``, ``unchanged`` or ``skipped``."""
    keys = user.keys
    clause = None
    for key, value in keys.items():
        term = getattr(RosterEntry, key) == value
        clause = term if clause is None else clause | term
    if clause is None:
        return "skipped"
    candidates = list(RosterEntry.select().where((RosterEntry.connector == connector) & clause))
    primary = _primary(candidates, keys)
    taken = {(key, getattr(entry, key)) for entry in candidates if entry is not primary
             for key in KEYS}
    kept = {key: value for key, value in keys.items() if (key, value) not in taken}
    if len(kept) < len(keys):
        log.warning("roster pull %s: a listed user (subject %s) shares %s with another entry; "
                    "stored without it", connector, user.subject or "unknown",
                    ", ".join(sorted(set(keys) - set(kept))))
    if primary is None:
        if not kept:
            return "skipped"
        RosterEntry.create(connector=connector, source="pull", attributes=user.attributes,
                           legacy_last_signin_at=user.last_signin_at, added_at=now,
                           updated_at=now, **kept)
        return "added"
    changes: dict[str, Any] = {key: value for key, value in kept.items()
                               if getattr(primary, key) != value}
    if primary.attributes != user.attributes:
        changes["attributes"] = user.attributes
    if user.last_signin_at and primary.legacy_last_signin_at != user.last_signin_at:
        changes["legacy_last_signin_at"] = user.last_signin_at
    if not changes:
        return "unchanged"
    RosterEntry.update(**changes, updated_at=now).where(RosterEntry.id == primary.id).execute()
    return "updated"


def _primary(candidates: list[RosterEntry], keys: dict[str, str]) -> RosterEntry | None:
    """The entry that is this person: matched by the most trusted key, and never one whose
    subject is someone else's."""
    subject = keys.get("subject")
    for key in KEYS:
        for entry in candidates:
            if key in keys and getattr(entry, key) == keys[key] and (
                    subject is None or entry.subject in (None, subject)):
                return entry
    return None


# -- the command ----------------------------------------------------------------------------
@roster_group.command("pull")
@click.argument("name")
@click.option("--restart", is_flag=True,
              help="Start again from the first page instead of where the last pull stopped.")
@click.option("--page-size", type=click.IntRange(1, 1000), default=DEFAULT_PAGE_SIZE,
              show_default=True, help="Users asked for per page (a connector may answer fewer).")
def pull_command(name: str, restart: bool, page_size: int) -> None:
    """List the users of connector NAME and store them in the roster (resumable)."""
    connector = current_app.extensions["ferry.connectors"].get(name)
    if connector is None:
        _fail(f"no connector named {name!r}")
    why = connector.cannot_list()
    if why:
        _fail(f"connector {name} cannot list its users: {why}")
    path = PullState.path(current_app.instance_path, name)
    with db.connection_context():
        state = pull(connector, path, restart, page_size)
        matched = roster.match_existing(name)
    click.echo(f"{name}: listed {state.listed} users in {state.pages} pages: {state.added} "
               f"added, {state.updated} updated, {state.unchanged} unchanged, {state.skipped} "
               f"not stored; {matched} matched to users who had migrated")


def pull(connector: Connector, path: str, restart: bool, page_size: int) -> PullState:
    """Page through the listing of ``connector`` from where the state at ``path`` stands (or
    the start), storing each page and then the state; exit 1 when the legacy IDP fails."""
    state = None if restart else PullState.load(path, connector.name)
    if state is not None and state.cursor:
        click.echo(f"resuming the pull of {connector.name} after page {state.pages} "
                   f"({state.listed} users listed so far; --restart starts over)", err=True)
    else:
        state = PullState(connector.name, started_at=utcnow().isoformat())
    try:
        while True:
            try:
                page = connector.list_users(state.cursor, page_size)
            except LegacyUnavailable as error:
                before = ("the 1 page before it is stored" if state.pages == 1
                          else f"the {state.pages} pages before it are stored")
                kept = f"; {before}: run the command again to resume" if state.pages else ""
                _fail(f"{connector.name} is unavailable on page {state.pages + 1}: "
                      f"{error.reason}{kept}")
            if page.cursor is not None and page.cursor == state.cursor:
                _fail(f"the listing of {connector.name} does not advance: page {state.pages + 1} "
                      "named itself as the next")
            if page.restarted:
                click.echo(f"the legacy side could not go on from page {state.pages}: listing "
                           "again from the first page (nothing is duplicated)", err=True)
                state.pages = state.listed = 0
            counts = store_page(connector.name, page.users)
            state.pages += 1
            state.listed += len(page.users)
            for key, value in counts.items():
                setattr(state, key, getattr(state, key) + value)
            state.cursor = page.cursor
            click.echo(f"page {state.pages}: {state.listed} users listed ({state.added} added, "
                       f"{state.updated} updated)", err=True)
            if page.cursor is None:
                break
            state.save(path)
    finally:
        connector.end_listing()
    if os.path.exists(path):
        os.remove(path)
    return state


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)
