"""``ferry roster import`` at scale: a million rows stream in flat memory, a real import
allocates a bounded amount, and reading resumes from a reported position with its lines.
"""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

from lifecycle import roster_import
from lifecycle.roster_files import BOM, parse_row, read_records
from models import RosterEntry, db
from tests.lifecycle.roster_import.conftest import (
    entries,
)

# -- a million rows -----------------------------------------------------------------------------
#: What an import may add to the process's memory, whatever the file's size.
MEMORY_BOUND = 50_000_000


def roster_file(path: Path, rows: int) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        handle.write("subject,email,username,phone,last_signin_at,dept\n")
        for i in range(rows):
            handle.write(f"s{i},user{i}@example.com,user{i},+4915{i:08d},"
                         f"2024-01-02T03:04:05Z,dept{i % 50}\n")
    return path


def held_per_row(path: Path, rows: int = 10_000) -> float:
    """What a parsed row costs when the rows are kept in a list (what streaming avoids)."""
    tracemalloc.start()
    try:
        held = [parse_row(record.line, record.fields)
                for record, _ in zip(read_records(path, "csv", "utf-8"), range(rows), strict=False)]
        size = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(held) == rows
    return size / rows


def resident_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads the RSS from /proc")
def test_a_million_rows_stream_in_flat_memory(app, tmp_path, monkeypatch):
    """A real import of a million rows into SQLite, the memory sampled at every batch.

    Memory is the resident set, not tracemalloc: tracemalloc makes this run about seven times
    slower (85 s for the reading alone, against some 40 s for the whole import untraced) and
    misses SQLite's own allocations, which the resident set counts. The next test traces a
    smaller import.
    """
    path = roster_file(tmp_path / "million.csv", 1_000_000)
    batches: list[int] = []
    real_write = roster_import.BatchWriter.write
    monkeypatch.setattr(roster_import.BatchWriter, "write",
                        lambda self, rows: (batches.append(len(rows)), real_write(self, rows)))
    growth = [0]
    with app.app_context(), db.connection_context():
        base = resident_bytes()

        def sample(_offset: int) -> None:
            growth[0] = max(growth[0], resident_bytes() - base)

        summary_ = roster_import.import_file(path, "legacy", checkpoints=tmp_path / "cp",
                                             progress=sample)
        stored = RosterEntry.select().count()
    assert (summary_.added, summary_.bad, stored) == (1_000_000, 0, 1_000_000)
    assert len(batches) == 1000 and set(batches) == {1000}
    assert growth[0] < MEMORY_BOUND, f"the import grew the process by {growth[0]:,} bytes"
    assert held_per_row(path) * 1_000_000 > 10 * MEMORY_BOUND  # a list of the rows would not fit


def test_a_real_import_allocates_a_bounded_amount(app, tmp_path):
    """tracemalloc over a whole import into SQLite (fewer rows, it is slow under tracing): the
    peak stays a fraction of what the same rows would take held in a list."""
    path = roster_file(tmp_path / "roster.csv", 30_000)
    with app.app_context(), db.connection_context():
        tracemalloc.start()
        try:
            summary_ = roster_import.import_file(path, "legacy", checkpoints=tmp_path / "cp")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert summary_.added == 30_000 and len(entries(app)) == 30_000
    assert peak < 10_000_000 < held_per_row(path) * 30_000


@pytest.mark.parametrize(("name", "text"), [
    ("roster.csv", 'email,note\n"a@example.com","one\ntwo"\n\nb@example.com,x\nc@example.com,y\n'),
    ("roster.jsonl", '{"email": "a@example.com"}\n\n{"email": "b@example.com"}\n'
                     '{"email": "c@example.com"}\n'),
])
def test_reading_from_a_reported_position_gives_the_rest_with_their_lines(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(BOM + text.encode())
    fmt = name.rsplit(".", 1)[1]
    records = list(read_records(path, fmt, "utf-8"))
    assert [record.fields["email"] for record in records] == [
        "a@example.com", "b@example.com", "c@example.com"]
    rest = list(read_records(path, fmt, "utf-8", records[0].after))
    assert [(r.line, r.fields) for r in rest] == [(r.line, r.fields) for r in records[1:]]
    assert records[-1].after.offset == path.stat().st_size
