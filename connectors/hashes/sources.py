"""Where the ``hashes`` connector reads legacy user records: an export file, or a SQL query.

* :class:`FileSource`: a CSV, JSON Lines or JSON file, read into memory once and again whenever
  the file changes (modification time, size or inode), indexed by normalised identifier. A
  broken file names the line (or record) at fault; two records with one identifier or one
  subject are refused, since either would let one person sign in as another.
* :class:`~connectors.hashes.sql.SqlSource` (in ``connectors/hashes/sql.py``): one parameterised
  query per sign-in against SQLite or PostgreSQL.

Both return a :class:`LegacyRecord` or None, and raise :class:`SourceProblem` (a reason for the
operator, never a secret) when they cannot answer, or its :class:`RecordProblem` when what they
found for this one identifier cannot be used (a problem of one user's data, not an outage).
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import json
import logging
import os
import threading
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from connectors.hashes.schemes import Stored
from users.identifiers import normalise_email

log = logging.getLogger(__name__)

_FALSE_WORDS = {"", "0", "false", "f", "no", "n", "off", "null", "none"}
_MAX_PROBLEMS = 10


class SourceProblem(Exception):
    """The legacy store cannot answer, or answered something unusable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RecordProblem(SourceProblem):
    """What the store holds for this one identifier cannot be used: one user's data is at
    fault (no subject, a hash that is not text, several rows), not the store."""


@dataclass(frozen=True)
class LegacyRecord:
    subject: str
    stored: Stored | None  # None: the user has no password in the legacy store
    claims: dict[str, Any]
    disabled: bool


def truthy(value: Any) -> bool:
    """Whether a flag column says yes: ``1``, ``true``, ``yes``, a date... but not ``0``/``false``/empty."""
    if value is None:
        return False
    if isinstance(value, bool | int | float | Decimal):
        return value != 0
    return str(value).strip().lower() not in _FALSE_WORDS


def json_safe(value: Any) -> Any:
    """A claim value that survives JSON (journey state, user attributes); None drops it."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return None  # binary columns are no profile
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    return str(value)


@dataclass(frozen=True)
class Fields:
    """Which column holds what; every other column becomes a claim."""

    identifier: str
    hash: str
    subject: str
    salt: str | None = None
    disabled: str | None = None
    active: str | None = None

    def required(self) -> list[str]:
        optional = [self.salt, self.disabled, self.active]
        return [self.identifier, self.hash, self.subject, *[f for f in optional if f]]

    def record(self, row: Mapping[str, Any]) -> LegacyRecord:
        subject = row.get(self.subject)
        if subject is None or isinstance(subject, bytes) or not str(subject).strip():
            raise RecordProblem(f"no {self.subject!r} (the subject)")
        disabled = truthy(row.get(self.disabled)) if self.disabled else False
        if self.active and self.active in row and not truthy(row[self.active]):
            disabled = True
        claims = {}
        for key, value in row.items():
            value = json_safe(value) if key not in (self.hash, self.salt) else None
            if value is not None and value != "":
                claims[key] = value
        return LegacyRecord(str(subject).strip(), self._stored(row), claims, disabled)

    def _stored(self, row: Mapping[str, Any]) -> Stored | None:
        value = row.get(self.hash)
        if isinstance(value, bytes | bytearray | memoryview):
            try:
                value = bytes(value).decode("ascii")
            except UnicodeDecodeError:
                raise RecordProblem(f"{self.hash!r} is binary, not a hash in text") from None
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str):
            raise RecordProblem(f"{self.hash!r} is a {type(value).__name__}, not a hash in text")
        salt = row.get(self.salt) if self.salt else None
        if isinstance(salt, bytearray | memoryview):
            salt = bytes(salt)
        if salt is not None and not isinstance(salt, bytes):
            salt = str(salt) if str(salt) != "" else None
        return Stored(value.strip(), salt)


# -- files -----------------------------------------------------------------------------------
class FileSource:
    """An export file, indexed in memory by normalised identifier."""

    def __init__(self, path: str, kind: str, fields: Fields, key: Callable[[str], str], *,
                 delimiter: str = ",", columns: list[str] | None = None,
                 records_key: str = "users", name: str = "") -> None:
        self.path = os.path.abspath(path)
        self.kind = kind
        self.fields = fields
        self.key = key
        self.delimiter = delimiter
        self.columns = columns
        self.records_key = records_key
        self.name = name
        self._lock = threading.Lock()
        self._signature: tuple[int, int, int] | None = None
        self._index: dict[str, LegacyRecord] | None = None
        self._failure = SourceProblem(f"{self.path} not read yet")
        self.sample: LegacyRecord | None = None  # a real record, for the unknown-user decoy
        self._records: list[LegacyRecord] = []  # every usable record, in file order (listing)

    def load(self) -> None:
        """Read the file now; raise :class:`SourceProblem` when it is missing or broken."""
        self._refresh()
        if self._index is None:
            raise self._failure

    def listed(self) -> list[LegacyRecord]:
        """Every usable record of the file as last read, in file order, those without an
        identifier too (``ferry roster pull`` pages through it without reading the file
        again); raise :class:`SourceProblem` as :meth:`find` does."""
        self._refresh()
        if self._index is None:
            raise self._failure
        return self._records

    def find(self, identifier: str) -> LegacyRecord | None:
        self._refresh()
        if self._index is None:
            raise self._failure
        return self._index.get(self.key(identifier))

    def records(self) -> Iterator[tuple[str, LegacyRecord | RecordProblem]]:
        """Every record of the file in file order, read afresh, with its place (``line 3``,
        ``record 2``): for bulk work such as ``ferry users import``; sign-ins use :meth:`find`.

        Read-only, and it leaves the sign-in index alone. A record that cannot be used (no
        identifier, no subject, a hash that is not text) comes as its :class:`RecordProblem`,
        so the caller can name it and go on; a file that cannot be read raises
        :class:`SourceProblem`.
        """
        try:
            for where, row in self._rows():
                identifier = row.get(self.fields.identifier)
                if identifier is None or not str(identifier).strip():
                    yield where, RecordProblem(f"no {self.fields.identifier!r} (the identifier)")
                    continue
                try:
                    yield where, self.fields.record(row)
                except RecordProblem as problem:
                    yield where, problem
        except (OSError, UnicodeDecodeError) as error:
            raise SourceProblem(f"source file {self.path} cannot be read ({error})") from None

    def _refresh(self) -> None:
        try:
            status = os.stat(self.path)
        except OSError as error:
            self._index, self._signature = None, None
            self._failure = SourceProblem(f"source file {self.path} cannot be read ({error.strerror})")
            return
        signature = (status.st_mtime_ns, status.st_size, status.st_ino)
        if signature == self._signature:
            return
        with self._lock:
            if signature == self._signature:
                return
            try:
                self._index = self._read()
                log.info("connector %s: read %d users from %s", self.name, len(self._index), self.path)
            except SourceProblem as problem:
                self._index, self._failure = None, problem
                log.error("connector %s: %s", self.name, problem.reason)
            self._signature = signature

    def _read(self) -> dict[str, LegacyRecord]:
        index: dict[str, LegacyRecord] = {}
        first_seen: dict[str, str] = {}  # identifier key or subject -> where it was first
        problems: list[str] = []
        skipped = 0
        sample = None
        records: list[LegacyRecord] = []
        try:
            for where, row in self._rows():
                identifier = row.get(self.fields.identifier)
                if identifier is None or not str(identifier).strip():
                    skipped += 1  # no identifier (a phone-only user...): cannot sign in here
                    with contextlib.suppress(SourceProblem):
                        records.append(self.fields.record(row))  # but the roster knows them
                    continue
                try:
                    record = self.fields.record(row)
                except SourceProblem as problem:
                    problems.append(f"{where}: {problem.reason}")
                    continue
                key = self.key(str(identifier))
                for seen, what in ((f"id:{key}", "identifier"), (f"sub:{record.subject}", "subject")):
                    if seen in first_seen:
                        problems.append(f"{where}: duplicate {what} (first on {first_seen[seen]})")
                    first_seen.setdefault(seen, where)
                if index.setdefault(key, record) is record:
                    records.append(record)
                if sample is None and record.stored is not None:
                    sample = record
                if len(problems) >= _MAX_PROBLEMS:
                    break
        except (OSError, UnicodeDecodeError) as error:
            raise SourceProblem(f"source file {self.path} cannot be read ({error})") from None
        if problems:
            raise SourceProblem(f"source file {self.path}: " + "; ".join(problems))
        if skipped:
            log.info("connector %s: %d records in %s have no %r", self.name, skipped, self.path,
                     self.fields.identifier)
        self.sample = sample
        self._records = records
        return index

    def _rows(self) -> Iterator[tuple[str, dict[str, Any]]]:
        if self.kind == "csv":
            yield from self._csv_rows()
        elif self.kind == "jsonl":
            yield from self._jsonl_rows()
        else:
            yield from self._json_rows()

    def _csv_rows(self) -> Iterator[tuple[str, dict[str, Any]]]:
        with open(self.path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter=self.delimiter, strict=True)
            try:
                header = self.columns or [name.strip() for name in next(reader, [])]
                repeated = sorted({name for name in header if header.count(name) > 1})
                if repeated:
                    raise SourceProblem(f"{self.path}: column {', '.join(map(repr, repeated))} "
                                        "appears more than once")
                missing = [f for f in self.fields.required() if f not in header]
                if missing:
                    raise SourceProblem(f"{self.path}: no column {', '.join(map(repr, missing))} "
                                        f"(columns: {', '.join(header) or 'none'})")
                start = reader.line_num + 1
                for values in reader:
                    where, start = f"line {start}", reader.line_num + 1
                    if not any(value.strip() for value in values):
                        continue
                    if len(values) != len(header):
                        raise SourceProblem(f"{self.path}: {where}: {len(values)} fields where the "
                                            f"header has {len(header)}")
                    yield where, dict(zip(header, values, strict=True))
            except csv.Error as error:
                raise SourceProblem(f"{self.path}: line {reader.line_num}: {error}") from None

    def _jsonl_rows(self) -> Iterator[tuple[str, dict[str, Any]]]:
        with open(self.path, encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as error:
                    raise SourceProblem(f"{self.path}: line {number}: not JSON ({error})") from None
                if not isinstance(row, dict):
                    raise SourceProblem(f"{self.path}: line {number}: not a JSON object")
                yield f"line {number}", row

    def _json_rows(self) -> Iterator[tuple[str, dict[str, Any]]]:
        with open(self.path, encoding="utf-8-sig") as handle:
            try:
                document = json.load(handle)
            except ValueError as error:
                raise SourceProblem(f"{self.path}: not JSON ({error})") from None
        records = document.get(self.records_key) if isinstance(document, dict) else document
        if not isinstance(records, list):
            raise SourceProblem(f"{self.path}: neither a JSON array nor an object with a "
                                f"{self.records_key!r} array")
        for number, row in enumerate(records, 1):
            if not isinstance(row, dict):
                raise SourceProblem(f"{self.path}: record {number}: not a JSON object")
            yield f"record {number}", row


def identifier_key(as_typed: bool) -> Callable[[str], str]:
    """How identifiers are compared: normalised like Ferry's (the default) or as typed."""
    if as_typed:
        return lambda value: unicodedata.normalize("NFC", value).strip()
    return normalise_email
