"""Opening the database named by ``DATABASE_URL`` and tying connections to requests.

SQLite (the embedded default) runs in WAL mode with foreign keys on; its write transactions
begin IMMEDIATE so two writers queue on the busy timeout instead of failing half-way.
Both databases get a connection pool of the process: a request borrows a connection and gives
it back at teardown (rolled back if a transaction was left open), so SQLite does not pay for
opening the file, setting four PRAGMAs and, as the last connection closes, checkpointing the
WAL on every request. A pool holds connections only, never state: servers share nothing new.

When PostgreSQL restarts, the connections in the pool die with it: the server ends each one
(a last message, then the socket closes). Before lending a connection the pool looks whether its
socket has anything to read, which an idle, live connection never has; if it has, it tries it
(``SELECT 1``) and opens a new one instead of a dead one. So only the requests caught in the
restart fail (``blueprints.errors`` shows them the "try again" page) and Ferry needs no restart,
and a request on a live connection pays no round trip for the check (peewee's pool would send
``SELECT 1`` every time). Connecting gives up after :data:`CONNECT_TIMEOUT` seconds.
"""

from __future__ import annotations

import os
import select
import sqlite3
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import peewee
from flask import Flask
from playhouse.pool import PooledDatabase, PooledPostgresqlDatabase, PooledSqliteDatabase

from models.base import db
from settings.errors import ConfigError

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 15000,
    "synchronous": "normal",
}


#: Seconds to wait for PostgreSQL to accept a connection (``?connect_timeout=`` overrides it).
CONNECT_TIMEOUT = 5

#: Seconds a new SQLite connection keeps trying to set its PRAGMAs while the file is locked.
PRAGMA_PATIENCE = 15.0


class _SqliteDatabase(PooledSqliteDatabase):
    """The pooled SQLite database, patient while a fresh file is switched to WAL.

    Turning a file to WAL needs it alone for a moment, and SQLite answers "database is locked"
    at once (without waiting out the busy timeout) to a connection that tries while another is
    doing so or recovering the WAL: with several servers starting on a new file, one of them
    lost a worker that way. WAL is a property of the file, so the first one to succeed has done
    it for all; the others retry briefly. The PRAGMAs are idempotent.
    """

    def _set_pragmas(self, conn: sqlite3.Connection) -> None:
        deadline = time.monotonic() + PRAGMA_PATIENCE
        while True:
            try:
                super()._set_pragmas(conn)
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)


class _PostgresqlDatabase(PooledPostgresqlDatabase):
    """The pooled PostgreSQL database, checking a connection without a round trip when it can."""

    def _is_closed(self, conn) -> bool:
        if conn.closed:
            return True
        if self._adapter.txn_status(conn) != self._adapter.txn_idle:
            return super()._is_closed(conn)  # rolls back what was left open, or finds it dead
        try:
            readable, _, _ = select.select([conn.fileno()], [], [], 0)
        except (OSError, ValueError):
            return True
        # Something to read on an idle connection: the server's goodbye (or a notice); ask.
        return bool(readable) and super()._is_closed(conn)


#: Connections a forked child inherited: kept referenced so that nothing in the child uses them
#: or closes them (closing would end the parent's PostgreSQL session or SQLite handle too).
_inherited: list[object] = []


def _forget_inherited_connections() -> None:
    """In a child just forked (``gunicorn --preload``, multiprocessing): start with an empty pool.

    The parent built the app, so its pool may hold connections; they belong to the parent.
    """
    current = db.obj
    if isinstance(current, PooledDatabase):
        _inherited.append((current._connections, current._in_use, current._state.conn))
        current.dispose()  # forgets the pool and this thread's connection, closes nothing


os.register_at_fork(after_in_child=_forget_inherited_connections)


def open_database(url: str) -> peewee.Database:
    """A peewee database for ``sqlite:///path`` or ``postgresql://user@host:port/name``."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else parsed.path
        if not path:
            raise ConfigError(f"database_url: {url!r} names no file")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # No cap (as before the pool): idle connections never outnumber the peak of concurrent
        # requests. A connection moves between threads only while checked in, one user at a
        # time, hence check_same_thread=False (werkzeug's dev server runs a thread per request).
        return _SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, lock_type="IMMEDIATE",
                               max_connections=None, check_same_thread=False)
    if parsed.scheme in ("postgres", "postgresql"):
        options = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
        max_connections = int(options.pop("max_connections", 20))
        # A server that is down answers at once; one whose machine is gone would hold the
        # request for the kernel's TCP timeout (minutes) without this.
        options.setdefault("connect_timeout", str(CONNECT_TIMEOUT))
        return _PostgresqlDatabase(
            parsed.path.lstrip("/"),
            user=parsed.username,
            password=parsed.password,
            host=parsed.hostname,
            port=parsed.port or 5432,
            max_connections=max_connections,
            stale_timeout=300,
            timeout=10,
            **options,
        )
    raise ConfigError(f"database_url: unsupported scheme {parsed.scheme!r} (sqlite or postgresql)")


def is_sqlite(database: peewee.Database | peewee.DatabaseProxy = db) -> bool:
    target = database.obj if isinstance(database, peewee.DatabaseProxy) else database
    return isinstance(target, peewee.SqliteDatabase)


def supports_returning(database: peewee.Database | peewee.DatabaseProxy = db) -> bool:
    """Whether ``UPDATE ... RETURNING`` works: PostgreSQL, and SQLite from 3.35 (2021) on."""
    return not is_sqlite(database) or sqlite3.sqlite_version_info >= (3, 35, 0)


#: Held by whoever writes from a thread of its own (the record of legacy calls) and by
#: :func:`shutdown`, so a database is never closed under a write in progress.
WRITE_LOCK = threading.RLock()


def shutdown() -> None:
    """Close every connection of the current database, pooled ones included."""
    with WRITE_LOCK:
        current = db.obj
        if current is None:
            return
        if isinstance(current, PooledDatabase):
            current.close_all()
        elif not current.is_closed():
            current.close()


def init_app(app: Flask) -> None:
    """Bind the models, lend a pooled connection to each request, bring the schema up to date."""
    from models import migrations

    shutdown()
    db.initialize(open_database(app.config["DATABASE_URL"]))

    @app.before_request
    def _connect() -> None:
        db.connect(reuse_if_open=True)

    @app.teardown_appcontext
    def _close(_exc: BaseException | None) -> None:
        if not db.is_closed():
            db.close()  # back to the pool, rolled back first if a transaction was left open

    if not migrations.loaded_for_db_command():  # `flask db ...` does it itself, and says so
        with db.connection_context():
            if app.config["MIGRATE_ON_START"]:
                migrations.upgrade(db)
            else:
                migrations.require_current(db)
    migrations.init_app(app)
