"""Reading roster files: CSV or JSON Lines, one record at a time, each named by its line.

A roster file may be millions of rows long, so nothing here holds more than one record: the
file is read as bytes, a line at a time, and each line is decoded on its own. That is what
lets a byte that is not of the file's encoding be *one bad row* ("line 7: not latin-1 ...")
instead of an exception that ends the import, and what gives every record an exact byte
position (the progress bar, and the checkpoint an interrupted import resumes from).

* A UTF-8 byte-order mark at the start of the file is skipped, whatever the encoding.
* ``--encoding`` takes any codec that keeps ``\\n`` a single byte (UTF-8, Latin-1, cp1252...);
  UTF-16 and UTF-32 are refused with a message, since their lines cannot be split as bytes.
* CSV: the first record is the header; quoted fields may span lines (the record is named by
  its first line). JSON Lines: one object per non-blank line.
* A line longer than :data:`MAX_LINE` bytes is a bad row, skipped without being held.

:func:`parse_row` turns what a record holds into a :class:`Row`: identifiers normalised as
lazy migration normalises them (:mod:`users.identifiers`), the rest kept as attributes.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from users.identifiers import normalise_email, normalise_username

FORMATS = ("csv", "jsonl")
#: A line (CSV: a physical line) longer than this is refused rather than read into memory.
MAX_LINE = 1 << 20
BOM = codecs.BOM_UTF8
#: The columns (CSV) or keys (JSON Lines) with a meaning; any other is an attribute.
IDENTIFIERS = ("subject", "email", "username", "phone")
LAST_SIGNIN = "last_signin_at"
#: The widths of the columns of ``roster_entry`` (a longer value is a bad row, not a DB error).
WIDTHS = {"subject": 255, "email": 320, "username": 150, "phone": 32}

_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]([^@\s]*[^@\s.])?$")
# The separators people write in phone numbers, as the admin search accepts them.
_PHONE = re.compile(r"^\+?[0-9 ()./-]{4,}$")
_PHONE_SEPARATORS = re.compile(r"[ ()./-]")
_PHONE_DIGITS = re.compile(r"^\+?[0-9]{4,}$")


class RosterFileError(Exception):
    """The file as a whole cannot be read (no header, a repeated column, an unusable encoding,
    an unknown format): nothing of it is imported."""


@dataclass(frozen=True)
class Position:
    """Where a record starts: its line number (1-based) and byte offset."""

    line: int = 1
    offset: int = 0


@dataclass(frozen=True)
class Record:
    """One record of the file: its fields, or why it is unreadable; and where the next begins."""

    line: int
    fields: dict[str, Any] | None
    problem: str | None
    after: Position


@dataclass(frozen=True)
class Row:
    """A valid roster row: normalised identifiers (at least one), the legacy sign-in, the rest."""

    line: int
    keys: dict[str, str]
    last_signin_at: datetime | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


def format_of(path: Path, given: str | None) -> str:
    """The format named by ``--format``, else by the file's extension (``.csv``, ``.jsonl``,
    ``.ndjson``); :class:`RosterFileError` when neither says."""
    if given:
        return given
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise RosterFileError(f"{path.name}: cannot tell the format from the extension "
                          f"{suffix or '(none)'}; say --format csv or --format jsonl")


def check_encoding(name: str) -> str:
    """The canonical name of the codec ``name``; refused when unknown or when a line feed is not
    the single byte ``\\n`` in it (UTF-16, UTF-32)."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise RosterFileError(f"unknown encoding {name!r}") from None
    if info.name == "utf-8-sig":
        return "utf-8"  # the mark is skipped anyway; per line, -sig would strip it mid-file
    try:
        feed = "\n".encode(info.name)
    except UnicodeError:
        feed = b""
    if feed != b"\n":
        raise RosterFileError(f"encoding {name!r} is not supported (lines are split on the "
                              "byte \\n): convert the file to UTF-8")
    return info.name


class _Lines:
    """The decoded lines of a binary file, counted, with the byte offset after each; lines
    that do not decode or are too long are remembered (in :attr:`bad`) and read as blank."""

    def __init__(self, handle: IO[bytes], encoding: str, start: Position) -> None:
        self.handle = handle
        self.encoding = encoding
        self.line = start.line - 1  # the number of the last line read
        self.offset = start.offset
        self.bad: list[tuple[int, str]] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = self.handle.readline(MAX_LINE)
        if not raw:
            raise StopIteration
        self.line += 1
        self.offset += len(raw)
        if len(raw) == MAX_LINE and not raw.endswith(b"\n"):
            while chunk := self.handle.readline(MAX_LINE):  # skip the rest, never holding it
                self.offset += len(chunk)
                if chunk.endswith(b"\n"):
                    break
            self.bad.append((self.line, f"longer than {MAX_LINE} bytes"))
            return "\n"
        if self.offset == len(raw) and raw.startswith(BOM):
            raw = raw[len(BOM):]
        try:
            return raw.decode(self.encoding)
        except UnicodeDecodeError as error:
            self.bad.append((self.line, f"byte {error.start + 1} is not {self.encoding} "
                                        "(another --encoding?)"))
            return "\n"

    def taken(self, first: int) -> str | None:
        """The problems met since the last call (of the record that starts on line ``first``),
        or None."""
        if not self.bad:
            return None
        problems = "; ".join(text if line == first else f"{text} (line {line})"
                             for line, text in self.bad)
        self.bad = []
        return problems

    def position(self) -> Position:
        """Where the next line starts."""
        return Position(self.line + 1, self.offset)


def read_records(path: Path, fmt: str, encoding: str,
                 start: Position | None = None) -> Iterator[Record]:
    """The records of ``path`` from ``start`` (a position a previous read reported, or the
    beginning), one at a time. A CSV file's header is read from the beginning in any case."""
    if fmt not in FORMATS:
        raise RosterFileError(f"unknown format {fmt!r} (csv or jsonl)")
    with path.open("rb") as handle:
        if fmt == "csv":
            yield from _csv_records(handle, encoding, start)
        else:
            if start is not None:
                handle.seek(start.offset)
            yield from _jsonl_records(_Lines(handle, encoding, start or Position()))


def _header(lines: _Lines) -> list[str]:
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader, None)
        while header is not None and not any(name.strip() for name in header):
            header = next(reader, None)  # blank lines before the header
    except csv.Error as error:
        raise RosterFileError(f"line {lines.line}: the header is not CSV ({error})") from None
    problem = lines.taken(lines.line)
    if problem:
        raise RosterFileError(f"the header (line {lines.line}) cannot be read: {problem}")
    if header is None:
        raise RosterFileError("the file is empty (no header)")
    names = [name.strip() for name in header]
    lowered = [name.lower() if name.lower() in (*IDENTIFIERS, LAST_SIGNIN) else name
               for name in names]
    repeated = sorted({name for name in lowered if lowered.count(name) > 1})
    if repeated or "" in lowered:
        what = ", ".join(map(repr, repeated)) if repeated else "with no name"
        raise RosterFileError(f"the header has a column {what} more than once or empty")
    if not any(name in IDENTIFIERS for name in lowered):
        raise RosterFileError(f"no column {', '.join(IDENTIFIERS)} in the header "
                              f"(columns: {', '.join(names)})")
    return lowered


def _csv_records(handle: IO[bytes], encoding: str, start: Position | None) -> Iterator[Record]:
    lines = _Lines(handle, encoding, Position())
    header = _header(lines)
    if start is not None and start.offset > lines.offset:
        handle.seek(start.offset)
        lines = _Lines(handle, encoding, start)
    reader = csv.reader(lines, strict=True)
    while True:
        first = lines.line + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            lines.taken(first)
            yield Record(first, None, f"not CSV ({error})", lines.position())
            continue
        problem = lines.taken(first)
        if problem is None and not any(value.strip() for value in values):
            continue  # a blank line
        if problem is None and len(values) != len(header):
            problem = f"{len(values)} fields where the header has {len(header)}"
        fields = None if problem else dict(zip(header, values, strict=True))
        yield Record(first, fields, problem, lines.position())


def _jsonl_records(lines: _Lines) -> Iterator[Record]:
    for text in lines:
        number = lines.line
        problem = lines.taken(number)
        if problem is None and not text.strip():
            continue
        fields = None
        if problem is None:
            try:
                fields = json.loads(text)
            except ValueError as error:
                problem = f"not JSON ({error})"
            else:
                if not isinstance(fields, dict):
                    fields, problem = None, f"a JSON {type(fields).__name__}, not an object"
        yield Record(number, fields, problem, lines.position())


class RowProblem(ValueError):
    """What is wrong with one row; the message names the field, never the whole row."""


def parse_row(line: int, fields: dict[str, Any]) -> Row:
    """The :class:`Row` of one record's fields; :class:`RowProblem` when it has no identifier,
    a malformed one, a value of the wrong type or a ``last_signin_at`` that is not ISO 8601.

    Empty values (``""``, JSON ``null``) count as absent, so CSV and JSON Lines agree.
    """
    keys: dict[str, str] = {}
    attributes: dict[str, Any] = {}
    last_signin = None
    for name, value in fields.items():
        if value is None or value == "":
            continue
        if name in IDENTIFIERS:
            keys[name] = _identifier(name, value)
        elif name == LAST_SIGNIN:
            last_signin = _timestamp(value)
        else:
            attributes[name] = value
    if not keys:
        raise RowProblem(f"no identifier (one of {', '.join(IDENTIFIERS)} is needed)")
    return Row(line, keys, last_signin, attributes)


def _identifier(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise RowProblem(f"{name} is a JSON {type(value).__name__}, not a string")
    if name == "email":
        value = normalise_email(value)
        if not _EMAIL.match(value):
            raise RowProblem(f"email {value!r} is not an e-mail address")
    elif name == "username":
        value = normalise_username(value)
    elif name == "phone":
        value = value.strip()
        if not _PHONE.match(value):
            raise RowProblem(f"phone {value!r} is not a phone number (digits, a leading +)")
        value = _PHONE_SEPARATORS.sub("", value)
        if not _PHONE_DIGITS.match(value):
            raise RowProblem(f"phone {value!r} has fewer than 4 digits")
    else:
        value = value.strip()
    if not value:
        raise RowProblem(f"{name} is blank")
    if len(value) > WIDTHS[name]:
        raise RowProblem(f"{name} is longer than {WIDTHS[name]} characters")
    return value


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise RowProblem(f"{LAST_SIGNIN} is a JSON {type(value).__name__}, not an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise RowProblem(f"{LAST_SIGNIN} {value!r} is not an ISO 8601 date and time") from None
    if parsed.tzinfo is not None:  # stored as naive UTC, like every time in Ferry
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed
