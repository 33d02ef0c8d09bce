"""What lets a roster import resume, and name the earlier line of a duplicate.

* :class:`Checkpoint`: the position of the next row and the counts so far, written after each
  committed batch to a small JSON file in the instance folder (``roster-imports/``), keyed by
  the file's absolute path, size and modification time, the connector, the format and the
  encoding: the same command run again continues there; a changed file starts over.
* :class:`SeenKeys`: the identifiers (and roster entries) the file's rows have used so far, with
  the line that used each first, in an SQLite table on disk beside the checkpoint, so that a
  million rows cost no memory. A resumed import forgets what the uncommitted batch recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from lifecycle.roster_files import Position
from models import utcnow

#: Values per ``IN (...)``: well below SQLite's parameter limit.
_CHUNK = 500


class Checkpoint:
    """Where an interrupted import of one file stopped, in ``folder``; see the module doc."""

    def __init__(self, folder: Path, path: Path, connector: str, fmt: str, encoding: str) -> None:
        status = path.stat()
        self.identity = {"path": str(path.resolve()), "size": status.st_size,
                         "mtime_ns": status.st_mtime_ns, "connector": connector,
                         "format": fmt, "encoding": encoding}
        self.folder = folder
        self.prefix = hashlib.sha256(self.identity["path"].encode()).hexdigest()[:16]
        signature = json.dumps(self.identity, sort_keys=True).encode()
        stem = f"{self.prefix}-{hashlib.sha256(signature).hexdigest()[:16]}"
        self.file = folder / f"{stem}.json"
        self.seen_file = folder / f"{stem}.seen.sqlite3"

    def load(self) -> tuple[Position, dict[str, int]] | None:
        """The position and counts of the last committed batch, or None (no checkpoint; those
        of an earlier version of the same file are deleted)."""
        for stale in self.folder.glob(f"{self.prefix}-*"):
            if stale.name.split(".")[0] != self.file.stem:
                stale.unlink(missing_ok=True)
        try:
            saved = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if any(saved.get(key) != value for key, value in self.identity.items()):
            return None
        return Position(saved["line"], saved["offset"]), saved["counts"]

    def save(self, position: Position, counts: dict[str, int]) -> None:
        """Record that every row before ``position`` is committed (atomically: write, rename)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.file.with_suffix(".partial")
        partial.write_text(json.dumps({**self.identity, "line": position.line,
                                       "offset": position.offset, "counts": counts,
                                       "saved_at": utcnow().isoformat()}), encoding="utf-8")
        os.replace(partial, self.file)

    def clear(self) -> None:
        """Forget the checkpoint (the import finished)."""
        self.file.unlink(missing_ok=True)


class SeenKeys:
    """The identifiers (and entries) the rows of this file have used so far, with the line
    that used each first: an on-disk SQLite table, so that a million rows cost no memory."""

    def __init__(self, path: Path, resume_from: int | None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if resume_from is None:
            path.unlink(missing_ok=True)
        self.path = path
        self.connection = sqlite3.connect(path)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=NORMAL")
        self.connection.execute("CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, "
                                "line INTEGER NOT NULL) WITHOUT ROWID")
        if resume_from is not None:  # what the interrupted batch recorded is not committed
            self.connection.execute("DELETE FROM seen WHERE line >= ?", (resume_from,))
        self.connection.commit()

    def lookup(self, keys: Iterable[str]) -> dict[str, int]:
        """The line that first used each of ``keys`` that an earlier batch used."""
        keys = list(keys)
        found: dict[str, int] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start:start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update(self.connection.execute(
                f"SELECT key, line FROM seen WHERE key IN ({marks})", chunk))  # noqa: S608  # nosec B608
        return found

    def add(self, used: dict[str, int]) -> None:
        """Remember ``used`` (key: line) once its batch is committed."""
        self.connection.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?)", used.items())
        self.connection.commit()

    def close(self, remove: bool) -> None:
        """Close the table; delete its file when the import is over."""
        self.connection.close()
        if remove:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
