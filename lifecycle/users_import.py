"""``flask --app app ferry users import --connector NAME [--dry-run]``: bulk hash import beside
lazy migration.

Walks every record of a ``hashes`` connector's export file and creates its user now, rather
than at the first sign-in, with the **legacy hash kept as it is**: the credential names the
connector whose settings verify it (see :mod:`authenticators.imported_hashes`), so the first
sign-in checks the password with the legacy scheme and then replaces it with argon2id. Users
who never sign in exist all the same (the legacy store can go), and lazy migration keeps
working beside the import for anyone the import has not reached yet.

Each record goes through :func:`users.provisioning.provision`, the function lazy migration
uses: the same unique keys ((connector, subject), e-mail, username) guard both paths, so a
user imported while signing in for the first time exists once. Per record, in one transaction:

* **created**: the user, the link to the legacy subject, the legacy hash (a record without one
  makes a user without a password: they sign in with a code or "forgot password"), the roster
  entry (``source = "import"`` when the roster did not list them) and ``user.imported`` in the
  audit trail (the connector and subject, never a hash). A record disabled at the legacy side
  makes a **disabled** user: an operator can enable it in the admin portal once the legacy
  side is gone, and its e-mail stays theirs meanwhile.
* **already there**: a user is linked to this legacy subject (migrated lazily or imported
  before): nothing changes, so a second run creates nobody and never undoes an upgraded hash.
* **conflict**: another local user owns the e-mail or username: reported, never merged (the
  person can still link the accounts by signing in, see ``link_account``).
* **closed**: an operator deleted the user of this subject: not brought back.
* **bad record**: named by its place and subject (a missing subject, a profile the mapping
  cannot read, a hash in a format the connector does not accept, a hash too long to keep),
  never with its values; the other records go on.

A progress bar goes to standard error, the summary to standard output. Exit status: 0 every
record was imported or already there; 1 some were reported (conflicts, bad records); 2 the
import could not run (no such connector, a SQL source, an unreadable file). ``--dry-run``
makes every record's real transaction and rolls it back: the summary says what would happen,
and nothing is written (no audit either).
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import NoReturn

import click
from flask import current_app

from authenticators.imported_hashes import wrap
from connectors.base import ExternalIdentity
from connectors.hashes import HashesConnector
from connectors.hashes.problems import HashProblem
from connectors.hashes.schemes import Stored
from connectors.hashes.sources import LegacyRecord, RecordProblem, SourceProblem
from journeys.steps.legacy_password import profile_problem
from lifecycle.cli import users_group
from models import LegacyLink, PasswordCredential, RosterEntry, User, db, utcnow
from security.audit import record as audit
from users.provisioning import provision

log = logging.getLogger(__name__)

#: The roster ``source`` of a user the roster did not list before this import created them.
ROSTER_SOURCE = "import"
#: The order the summary counts appear in.
OUTCOMES = ("created", "already there", "conflict", "closed", "bad record")
_HASH_LIMIT = PasswordCredential._meta.fields["hash"].max_length


class _DryRun(Exception):
    """Raised inside a record's transaction to roll it back (``--dry-run``)."""


@dataclass
class Summary:
    """What an import did (or would do): counts by outcome, and the records to look at."""

    counts: Counter = field(default_factory=Counter)
    disabled: int = 0  # created disabled
    without_password: int = 0  # created with no password
    reported: list[str] = field(default_factory=list)  # "line 4: conflict: ..."

    def line(self) -> str:
        """One line of counts, e.g. ``created 3 (1 disabled), already there 2, conflicts 0...``."""
        parts = []
        for outcome in OUTCOMES:
            parts.append(f"{_PLURALS.get(outcome, outcome)} {self.counts[outcome]}")
        notes = [f"{n} {what}" for n, what in ((self.disabled, "disabled"),
                                                (self.without_password, "without a password")) if n]
        if notes:
            parts[0] += f" ({', '.join(notes)})"
        return ", ".join(parts)


_PLURALS = {"conflict": "conflicts", "bad record": "bad records"}


@users_group.command("import")
@click.option("--connector", "name", required=True, metavar="NAME",
              help="A connector of type hashes whose export file holds the users.")
@click.option("--dry-run", is_flag=True, help="Say what would happen; write nothing.")
def users_import(name: str, dry_run: bool) -> None:
    """Create the users of connector NAME's hash export now, keeping their legacy hashes."""
    connector = current_app.extensions["ferry.connectors"].get(name)
    if not isinstance(connector, HashesConnector):
        _stop(f"no connector of type hashes named {name!r}")
    if "$" in name:  # the credential string names the connector between "$" signs
        _stop(f"connector name {name!r}: rename it without '$' to import its users")
    records = getattr(connector.source, "records", None)
    if records is None:
        _stop(f"connector {name} reads its users over SQL one at a time and cannot list them: "
              "export them to a CSV or JSON Lines file and import that through a file connector")
    summary = Summary()
    try:
        total = sum(1 for _ in records())
        with db.connection_context(), click.progressbar(
                records(), length=total, label="Importing users", file=sys.stderr) as bar:
            for where, found in bar:
                _count(summary, where, found, import_record(connector, found, dry_run=dry_run))
    except SourceProblem as problem:
        done = sum(summary.counts.values())
        _stop(problem.reason + (f" (after {done} records, kept: run it again to go on)"
                                if done and not dry_run else ""))
    prefix = "dry run, nothing written: would have " if dry_run else ""
    click.echo(f"{prefix}{summary.line()}")
    for line in summary.reported:
        click.echo(line)
    log.info("users import from connector %s%s: %s", name, " (dry run)" if dry_run else "",
             summary.line())
    if summary.reported:
        sys.exit(1)


def import_record(connector: HashesConnector, found: LegacyRecord | RecordProblem, *,
                  dry_run: bool = False) -> tuple[str, str | None]:
    """Import one record; return its outcome (one of :data:`OUTCOMES`) and, for a reported
    one, why (no values, no hash)."""
    if isinstance(found, RecordProblem):
        return "bad record", found.reason
    problem = profile_problem(found.subject, found.claims, connector.mapping)
    if problem is None and found.stored is not None:
        problem = _hash_problem(connector, found.stored)
    if problem is not None:
        return "bad record", problem
    try:
        with db.atomic():
            outcome = _import_once(connector, found, dry_run)
            if dry_run:
                raise _DryRun(outcome)
    except _DryRun as rolled_back:
        outcome = rolled_back.args[0]
    if outcome == "conflict":
        return outcome, "another user already has its e-mail address or username; not merged"
    return outcome, None


def _hash_problem(connector: HashesConnector, stored: Stored) -> str | None:
    """Why this hash cannot be kept (a format the connector would refuse at sign-in too, or
    too long to store), or None. Only the format is checked here, no password."""
    try:
        connector.verifier.identify(stored)
    except HashProblem as problem:
        return problem.reason
    if len(wrap(connector.name, stored)) > _HASH_LIMIT:
        return f"the hash is too long to keep (more than {_HASH_LIMIT} characters with its prefix)"
    return None


def _import_once(connector: HashesConnector, found: LegacyRecord, dry_run: bool) -> str:
    """One record, inside the caller's transaction."""
    if LegacyLink.select().where((LegacyLink.connector == connector.name)
                                 & (LegacyLink.subject == found.subject)).exists():
        return "already there"  # nothing refreshed: an import run twice changes nothing
    identity = ExternalIdentity(connector.name, found.subject, found.claims)
    # No hash through provision(): when a concurrent first sign-in wins the race, its
    # "linked" path would overwrite that user's fresh argon2id hash with the legacy one.
    result = provision(identity, connector.mapping)
    if result.outcome != "created" or result.user is None:
        return {"linked": "already there"}.get(result.outcome, result.outcome)
    user, now = result.user, utcnow()
    if found.stored is not None:
        # A credential already there (a sign-in in between) is newer than the export: kept.
        (PasswordCredential
         .insert(user=user, hash=wrap(connector.name, found.stored),
                 source=f"legacy:{connector.name}", created_at=now, updated_at=now)
         .on_conflict_ignore().execute())
    if found.disabled:
        User.update(status="disabled", updated_at=now).where(User.id == user.id).execute()
    (RosterEntry.update(source=ROSTER_SOURCE)  # the entry provision() just added, if it did
     .where((RosterEntry.connector == connector.name) & (RosterEntry.user_id == user.id)
            & (RosterEntry.source == "migration")).execute())
    if not dry_run:
        audit("user.imported", user_id=user.id, connector=connector.name,
              subject=found.subject, disabled=found.disabled,
              password=found.stored is not None)
    return "created"


def _count(summary: Summary, where: str, found: LegacyRecord | RecordProblem,
           result: tuple[str, str | None]) -> None:
    outcome, why = result
    summary.counts[outcome] += 1
    if outcome == "created" and isinstance(found, LegacyRecord):
        summary.disabled += found.disabled
        summary.without_password += found.stored is None
    if why is not None:
        subject = f" (subject {found.subject})" if isinstance(found, LegacyRecord) else ""
        summary.reported.append(f"{where}{subject}: {outcome}: {why}")


def _stop(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)
