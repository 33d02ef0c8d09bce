"""The durable record of legacy calls (:class:`models.LegacyCall`), one row per guarded call.

:func:`install` registers :func:`record` with :mod:`connectors.guard`; the dashboard computes
latency percentiles per connector from these rows, and ``db purge`` drops them after the
configured retention.

Rows are written behind the request, never inside it: :func:`record` only queues the call, and a
writer thread of the process inserts what is queued about once a second, in one statement. A
write inside the request made a sign-in that reached a legacy IDP measurably slower
than one Ferry answered alone, which tells who has migrated (``tests/security/test_timing.py``);
and the dashboard can wait a second. At most :data:`MAX_QUEUED` rows wait; beyond that the
oldest are dropped (and counted in the log) rather than memory growing while a database is
away. A row made while Ferry ran on another database (a test building apps one after another)
is left out rather than written to the wrong one.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from typing import Any

import peewee

from models import LegacyCall, db, utcnow
from models.database import WRITE_LOCK

log = logging.getLogger(__name__)
#: Seconds between two writes of the queue.
FLUSH_EVERY = 1.0
#: Rows that may wait for the writer; older ones are dropped beyond it.
MAX_QUEUED = 10_000

_queue: deque[tuple[peewee.Database, dict[str, Any]]] = deque(maxlen=MAX_QUEUED)
_lock = threading.Lock()
_writer: dict[int, threading.Thread] = {}  # by process id: a forked worker starts its own
_dropped = 0
_stopping = threading.Event()  # never set while the process runs; waits without time.sleep


def record(connector: str, operation: str, outcome: str, seconds: float) -> None:
    """Queue one guarded call (see :data:`connectors.guard.OBSERVERS`) for the writer."""
    global _dropped
    row = {"at": utcnow(), "connector": connector[:100], "operation": operation[:64],
           "outcome": outcome, "ms": round(seconds * 1000.0, 3)}
    with _lock:
        if len(_queue) == MAX_QUEUED:
            _dropped += 1
        _queue.append((db.obj, row))
    _ensure_writer()


def flush() -> int:
    """Write every queued row now; how many were written (tests, and a graceful stop)."""
    global _dropped
    with _lock:
        pending = list(_queue)
        _queue.clear()
        dropped, _dropped = _dropped, 0
    if dropped:
        log.warning("%d records of legacy calls were dropped: the database did not keep up",
                    dropped)
    with WRITE_LOCK:  # the database is not closed under the write (models.database.shutdown)
        current = db.obj
        rows = [row for database, row in pending if database is current]
        if len(rows) < len(pending):  # made for a database Ferry no longer runs on (tests)
            log.debug("%d records of legacy calls left out: their database was replaced",
                      len(pending) - len(rows))
        if not rows or current is None:
            return 0
        try:
            with current.connection_context():
                LegacyCall.insert_many(rows).execute(current)
        except peewee.PeeweeException as error:  # the database is away: these rows are lost
            log.warning("%d records of legacy calls not written: %s", len(rows), error)
            return 0
    return len(rows)


def _ensure_writer() -> None:
    pid = os.getpid()
    if _writer.get(pid) is not None and _writer[pid].is_alive():
        return
    with _lock:
        if _writer.get(pid) is None or not _writer[pid].is_alive():
            thread = threading.Thread(target=_write_forever, name="ferry-legacy-calls",
                                      daemon=True)
            _writer[pid] = thread
            thread.start()


def _write_forever() -> None:
    while not _stopping.wait(FLUSH_EVERY):
        try:
            flush()
        except Exception:  # noqa: BLE001 - the writer must outlive any one failure
            log.exception("writing the record of legacy calls failed")


def install() -> None:
    """Record every guarded legacy call from now on (idempotent)."""
    from connectors.guard import observe

    observe(record)
