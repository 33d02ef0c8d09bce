"""Importing a roster file into ``roster_entry``: streamed, batched, idempotent, resumable.

Rows are read one at a time (:mod:`lifecycle.roster_files`) and written :data:`BATCH_SIZE` at
a time, one transaction per batch, so memory stays flat whatever the file's size.

**Idempotent.** Each row is an upsert on the per-connector unique keys (subject, e-mail,
username, phone): a row that matches no entry is added; one that matches exactly one entry and
contradicts none of its identifiers updates it when its attributes, its legacy sign-in or a
missing identifier changed, and otherwise leaves it unchanged. Importing the same file twice
therefore changes nothing the second time.

**Never a merge.** A row is a *bad row* (reported by line, the others kept) when it matches an
entry by one key but differs on another, when it matches two entries, or when it repeats a
person of an earlier row of the same file (an identifier, or the entry, already used by line
N): the first row is kept, and because the later one is refused rather than applied, a
re-import cannot flip an entry between two rows.

**Resumable.** After each committed batch a checkpoint (the position of the next row and the
counts so far) is written to ``<instance>/roster-imports/``, keyed by the file's absolute path,
size and modification time, the connector, the format and the encoding. Running the same
command again after an interruption continues from there; a changed file starts over (and
idempotency keeps that correct too). The identifiers already used by the file, needed to name
a later duplicate's earlier line, are kept beside it in a small SQLite file on disk rather
than in memory. Both are removed when the import finishes; ``--restart`` ignores them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import peewee

from lifecycle import roster
from lifecycle.roster_files import (
    IDENTIFIERS,
    Row,
    RowProblem,
    check_encoding,
    format_of,
    parse_row,
    read_records,
)
from lifecycle.roster_resume import Checkpoint, SeenKeys
from models import RosterEntry, db, utcnow
from models.database import is_sqlite

log = logging.getLogger(__name__)

#: Rows per transaction (and per checkpoint).
BATCH_SIZE = 1000
#: Values per ``IN (...)``: well below SQLite's and PostgreSQL's parameter limits.
_CHUNK = 500
#: Times a batch is tried again when a concurrent writer (a sign-in) took one of its keys.
_RETRIES = 3

Report = Callable[[int, str], None]


@dataclass
class Summary:
    """What an import did, over the whole file (earlier runs of a resumed import included)."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    bad: int = 0
    matched: int = 0
    resumed_at: int | None = None  # the line a resumed import continued from

    def counts(self) -> dict[str, int]:
        """The counters, as the checkpoint stores them."""
        return {name: getattr(self, name) for name in ("added", "updated", "unchanged", "bad")}


def _token(kind: str, value: object) -> str:
    return f"{kind}\0{value}"


class BatchWriter:
    """Writes batches of rows of one file to one connector's roster; see the module doc."""

    def __init__(self, connector: str, source: str, seen: SeenKeys, summary: Summary,
                 report: Report) -> None:
        self.connector = connector
        self.source = source
        self.seen = seen
        self.summary = summary
        self.report = report
        self.pending: list[tuple[int, str]] = []

    def write(self, rows: list[Row]) -> None:
        """Add, update or refuse each of ``rows``, in one transaction; count them, and report
        the bad rows met since the last batch (the reader's too) in the order of their lines."""
        for attempt in range(_RETRIES + 1):
            try:
                with db.atomic():
                    outcome = self._apply(rows)
                    # Before the commit, to keep the window between the commit and the
                    # checkpoint short: a resumed import forgets what lines past it recorded.
                    self.seen.add(outcome[-1])
                break
            except peewee.IntegrityError:
                if attempt == _RETRIES:
                    raise
                log.info("roster import: a concurrent writer took a key; batch tried again")
        added, updated, unchanged, refused, _used = outcome
        self.summary.added += added
        self.summary.updated += updated
        self.summary.unchanged += unchanged
        for line, problem in refused:
            self.bad(line, problem)
        self.flush()

    def bad(self, line: int, problem: str) -> None:
        """Count one bad row; it is reported at the next :meth:`flush`."""
        self.summary.bad += 1
        self.pending.append((line, problem))

    def flush(self) -> None:
        """Report the bad rows counted so far, by line."""
        for line, problem in sorted(self.pending):
            self.report(line, problem)
        self.pending = []

    def _apply(self, rows: list[Row]) -> tuple[int, int, int, list[tuple[int, str]], dict]:
        existing = self._existing(rows)
        # The line that first used each identifier, and each entry matched, in earlier batches
        # (then in this one, as its rows are accepted: a refused row claims nothing).
        earlier = self.seen.lookup({_token(k, v) for row in rows for k, v in row.keys.items()}
                                   | {_token("id", entry["id"]) for entry in existing.values()})
        now = utcnow()
        inserts, refused, used = [], [], {}
        updated = unchanged = 0
        for row in rows:
            tokens = [_token(kind, value) for kind, value in row.keys.items()]
            matches = {}
            for kind, value in row.keys.items():
                entry = existing.get((kind, value))
                if entry is not None:
                    matches.setdefault(entry["id"], (kind, entry))
            problem = _repeated(row, earlier) or _conflict(row, list(matches.values()))
            if problem is None and matches:
                first = earlier.get(_token("id", next(iter(matches))))
                if first is not None:
                    problem = (f"the same roster entry as line {first} (by another identifier): "
                               "a duplicate")
            if problem:
                refused.append((row.line, problem))
                continue
            if matches:
                entry_id, (_kind, entry) = next(iter(matches.items()))
                tokens.append(_token("id", entry_id))
                changes = _changes(entry, row)
                if changes:
                    _update(entry_id, changes, now)
                    updated += 1
                else:
                    unchanged += 1
            else:
                inserts.append(self._new(row, now))
            for token in tokens:
                earlier[token] = used[token] = row.line
        _insert(inserts)
        return len(inserts), updated, unchanged, refused, used

    def _existing(self, rows: list[Row]) -> dict[tuple[str, str], dict]:
        """The entries of the connector that share a key with ``rows``, by (kind, value)."""
        found: dict[tuple[str, str], dict] = {}
        for kind in IDENTIFIERS:
            values = sorted({row.keys[kind] for row in rows if kind in row.keys})
            for start in range(0, len(values), _CHUNK):
                for entry in _select(self.connector, kind, values[start:start + _CHUNK]):
                    found[(kind, entry[kind])] = entry
        return found

    def _new(self, row: Row, now: datetime) -> tuple:
        return (self.connector, self.source, *(row.keys.get(kind) for kind in IDENTIFIERS),
                _ATTRIBUTES.db_value(row.attributes), _when(row.last_signin_at), _when(now),
                _when(now))


# -- the table, in plain SQL ------------------------------------------------------------------
# peewee's query building cost four fifths of an import's time (a million rows took minutes):
# the three statements of the hot path are written here once, with the fields' own
# conversions, so that what they store is what the model would store. Their table and column
# names are the model's constants; every value is a parameter (hence the ``nosec B608``).
_TABLE = RosterEntry._meta.table_name
_ATTRIBUTES = RosterEntry.attributes
_LAST_SIGNIN = RosterEntry.legacy_last_signin_at
_SELECTED = ("id", *IDENTIFIERS, "attributes", "legacy_last_signin_at")
_INSERTED = ("connector", "source", *IDENTIFIERS, "attributes", "legacy_last_signin_at",
             "added_at", "updated_at")
_INSERT_ROWS = 100  # rows per INSERT: 1,000 parameters


def _when(value: datetime | None) -> object:
    # SQLite stores what sqlite3's adapter (deprecated in 3.12) made of a datetime for peewee.
    return str(value) if value is not None and is_sqlite() else value


def _select(connector: str, kind: str, values: list[str]) -> Iterator[dict]:
    marks = ", ".join([db.param] * len(values))
    sql = (f'SELECT {", ".join(_SELECTED)} FROM "{_TABLE}" '  # noqa: S608  # nosec B608
           f'WHERE connector = {db.param} AND "{kind}" IN ({marks})')
    for found in db.execute_sql(sql, [connector, *values]).fetchall():
        entry = dict(zip(_SELECTED, found, strict=True))
        entry["legacy_last_signin_at"] = _LAST_SIGNIN.python_value(entry["legacy_last_signin_at"])
        yield entry


def _insert(rows: list[tuple]) -> None:
    values = f"({', '.join([db.param] * len(_INSERTED))})"
    for start in range(0, len(rows), _INSERT_ROWS):
        chunk = rows[start:start + _INSERT_ROWS]
        db.execute_sql(f'INSERT INTO "{_TABLE}" ({", ".join(_INSERTED)}) '  # noqa: S608  # nosec B608
                       f'VALUES {", ".join([values] * len(chunk))}',
                       [value for row in chunk for value in row])


def _update(entry_id: int, changes: dict, now: datetime) -> None:
    changes = {**changes, "updated_at": now}
    values = [_ATTRIBUTES.db_value(value) if name == "attributes"
              else _when(value) if isinstance(value, datetime) else value
              for name, value in changes.items()]
    assignments = ", ".join(f'"{name}" = {db.param}' for name in changes)
    db.execute_sql(f'UPDATE "{_TABLE}" SET {assignments} WHERE id = {db.param}',  # noqa: S608  # nosec B608
                   [*values, entry_id])


def _repeated(row: Row, earlier: dict[str, int]) -> str | None:
    """Why ``row`` repeats a person of an earlier row of the file, or None."""
    lines = {kind: earlier[token] for kind, value in row.keys.items()
             if (token := _token(kind, value)) in earlier}
    if not lines:
        return None
    if len(set(lines.values())) == 1 and len(lines) == len(row.keys):
        return f"a duplicate of line {next(iter(lines.values()))}"
    shared = ", ".join(f"{kind} as line {line}" for kind, line in lines.items())
    return f"the same {shared}, but not the same identifiers: it could merge two people"


def _conflict(row: Row, matches: list[tuple[str, dict]]) -> str | None:
    """Why ``row`` cannot be applied to the entries it matches, or None."""
    if len(matches) > 1:
        how = " and ".join(f"entry {entry['id']} by {kind}" for kind, entry in matches)
        return f"matches two roster entries ({how}): it would merge two people"
    for kind, entry in matches:
        differing = [other for other, value in row.keys.items()
                     if entry[other] is not None and entry[other] != value]
        if differing:
            return (f"has the {kind} of roster entry {entry['id']} but another "
                    f"{', '.join(differing)}: it would merge two people")
    return None


def _changes(entry: dict, row: Row) -> dict:
    changes = {kind: value for kind, value in row.keys.items() if entry[kind] is None}
    stored = entry["attributes"]
    if _ATTRIBUTES.db_value(row.attributes) != stored and row.attributes != (
            _ATTRIBUTES.python_value(stored) or {}):
        changes["attributes"] = row.attributes
    if row.last_signin_at is not None and row.last_signin_at != entry["legacy_last_signin_at"]:
        changes["legacy_last_signin_at"] = row.last_signin_at
    return changes


def import_file(path: Path, connector: str, *, checkpoints: Path, fmt: str | None = None,
                encoding: str = "utf-8", restart: bool = False, batch_size: int | None = None,
                report: Report = lambda line, problem: None,
                progress: Callable[[int], None] = lambda offset: None) -> Summary:
    """Import the roster file ``path`` for ``connector``; return what it did.

    ``report(line, problem)`` is called for every bad row, ``progress(offset)`` with the byte
    position now and then. Raises :class:`~lifecycle.roster_files.RosterFileError` when the
    file as a whole cannot be read (nothing imported). Whatever else interrupts it (an
    exception, Ctrl-C) leaves the checkpoint of the last committed batch: call again to resume.
    ``connector`` must be a configured connector's name (the command checks).
    """
    fmt = format_of(path, fmt)
    encoding = check_encoding(encoding)
    batch_size = batch_size or BATCH_SIZE
    checkpoint = Checkpoint(checkpoints, path, connector, fmt, encoding)
    if restart:
        checkpoint.clear()
    state = checkpoint.load()
    summary = Summary()
    start = None
    if state is not None:
        start, counts = state
        summary = Summary(**counts, resumed_at=start.line)
        log.info("roster import of %s: resuming at line %d", path, start.line)
    seen = SeenKeys(checkpoint.seen_file, start.line if start else None)
    writer = BatchWriter(connector, f"import:{path.name}"[:200], seen, summary, report)
    finished = False
    try:
        batch: list[Row] = []
        read, position = 0, start
        for record in read_records(path, fmt, encoding, start):
            read, position = read + 1, record.after
            if read % batch_size == 0:
                progress(record.after.offset)
            if record.problem is not None:
                writer.bad(record.line, record.problem)
                continue
            try:
                batch.append(parse_row(record.line, record.fields or {}))
            except RowProblem as problem:
                writer.bad(record.line, str(problem))
                continue
            if len(batch) >= batch_size:
                writer.write(batch)
                checkpoint.save(record.after, summary.counts())
                batch = []
        if batch:
            writer.write(batch)
        writer.flush()
        if position is not None:
            checkpoint.save(position, summary.counts())
        progress(path.stat().st_size)
        summary.matched = roster.match_existing(connector)
        finished = True
    finally:
        seen.close(remove=finished)
    checkpoint.clear()
    log.info("roster import of %s for %s: %s", path, connector, asdict(summary))
    return summary

