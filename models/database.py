"""Opening the database named by ``DATABASE_URL`` and tying connections to requests.

SQLite (the embedded default) runs in WAL mode with foreign keys on; its write transactions
begin IMMEDIATE so two writers queue on the busy timeout instead of failing half-way.
PostgreSQL gets a connection pool; every server of a deployment shares it safely.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import peewee
from flask import Flask
from playhouse.pool import PooledPostgresqlDatabase

from models.base import db
from settings.errors import ConfigError

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 15000,
    "synchronous": "normal",
}


def open_database(url: str) -> peewee.Database:
    """A peewee database for ``sqlite:///path`` or ``postgresql://user@host:port/name``."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else parsed.path
        if not path:
            raise ConfigError(f"database_url: {url!r} names no file")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return peewee.SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, lock_type="IMMEDIATE")
    if parsed.scheme in ("postgres", "postgresql"):
        options = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
        max_connections = int(options.pop("max_connections", 20))
        return PooledPostgresqlDatabase(
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


def shutdown() -> None:
    """Close every connection of the current database, pooled ones included."""
    current = db.obj
    if current is None:
        return
    if isinstance(current, PooledPostgresqlDatabase):
        current.close_all()
    elif not current.is_closed():
        current.close()


def init_app(app: Flask) -> None:
    """Bind the models, open a connection per request, and bring the schema up to date."""
    from models import migrations

    shutdown()
    db.initialize(open_database(app.config["DATABASE_URL"]))

    @app.before_request
    def _connect() -> None:
        db.connect(reuse_if_open=True)

    @app.teardown_appcontext
    def _close(_exc: BaseException | None) -> None:
        if not db.is_closed():
            db.close()

    with db.connection_context():
        if app.config["MIGRATE_ON_START"]:
            migrations.upgrade(db)
        else:
            migrations.require_current(db)
    migrations.init_app(app)
