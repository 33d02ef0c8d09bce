"""Writing the roster out: the users still to migrate (or everyone), as CSV or JSON Lines.

Streamed: entries are read by ascending id a page at a time (keyset pagination, so a long
export neither holds the table in memory nor slows down page after page, and a PostgreSQL
cursor does not buffer it all client-side), and each is written as soon as it is read.

The CSV columns are fixed (:data:`COLUMNS`), whatever the entries hold: the attributes, whose
keys differ from user to user, are one column holding a JSON object, so the header can be
written before the first row is read. JSON Lines carries the same fields, the attributes as an
object.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Protocol

from models import RosterEntry

FORMATS = ("csv", "jsonl")
#: The fields of an exported entry, in order (CSV header).
COLUMNS = ("connector", "subject", "email", "username", "phone", "legacy_last_signin_at",
           "user_id", "migrated_at", "attributes")
PAGE_SIZE = 1000


class TextSink(Protocol):
    """Where the export goes: an open text file, or the command's standard output."""

    def write(self, text: str, /) -> Any:
        """Write ``text``."""


def entries(connector: str | None = None, remaining: bool = True) -> Iterator[dict[str, Any]]:
    """The roster entries (of ``connector``, or all), those without a user only when
    ``remaining``, by ascending id, as dicts of :data:`COLUMNS`."""
    where = RosterEntry.id > 0
    if connector is not None:
        where &= RosterEntry.connector == connector
    if remaining:
        where &= RosterEntry.user_id.is_null()
    columns = [getattr(RosterEntry, name) for name in COLUMNS]
    after = 0
    while True:
        page = list(RosterEntry.select(RosterEntry.id, *columns)
                    .where(where & (RosterEntry.id > after))
                    .order_by(RosterEntry.id).limit(PAGE_SIZE).dicts())
        for entry in page:
            yield {name: entry[name] for name in COLUMNS}
        if len(page) < PAGE_SIZE:
            return
        after = page[-1]["id"]


def _text(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def write(sink: TextSink, fmt: str, connector: str | None = None, remaining: bool = True) -> int:
    """Write the entries :func:`entries` yields to ``sink`` in ``fmt``; return how many."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (csv or jsonl)")
    count = 0
    writer = csv.writer(sink, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(COLUMNS)
    for entry in entries(connector, remaining):
        values = {name: _text(value) for name, value in entry.items()}
        if writer is not None:
            values["attributes"] = json.dumps(values["attributes"] or {}, sort_keys=True,
                                              ensure_ascii=False)
            writer.writerow(["" if values[name] is None else values[name] for name in COLUMNS])
        else:
            sink.write(json.dumps(values, ensure_ascii=False) + "\n")
        count += 1
    return count
