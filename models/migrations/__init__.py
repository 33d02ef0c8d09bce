"""Versioned schema migrations: ``mNNNN_<what>.py`` modules, applied in order, each once.

Each module has ``VERSION`` and ``upgrade(db)``. :func:`upgrade` runs every pending one inside a
single transaction that first takes a lock (PostgreSQL advisory lock, SQLite ``BEGIN
IMMEDIATE``), so several servers starting at once apply a migration exactly once.

Operators run ``flask --app app db upgrade`` and ``flask --app app db status``; with
``migrate_on_start`` (the default) every server upgrades itself on start-up. The ``db`` commands
are the exception: the app they load neither migrates nor insists on a current schema (see
:func:`loaded_for_db_command`), so ``db status`` shows what is pending and ``db upgrade`` says
what it applied.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from types import ModuleType

import click
import peewee
from flask import Flask

from models.base import utcnow
from settings.errors import ConfigError

_LOCK_ID = 0x4665727279  # "Ferry"


def available() -> list[ModuleType]:
    """Every migration module of this package, by version."""
    modules = [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in pkgutil.iter_modules(__path__)
        if info.name.startswith("m") and info.name[1:5].isdigit()
    ]
    modules.sort(key=lambda module: module.VERSION)
    versions = [module.VERSION for module in modules]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a version: {versions}")
    return modules


def _ensure_table(db: peewee.Database) -> None:
    kind = "TIMESTAMP" if isinstance(db, peewee.PostgresqlDatabase) else "DATETIME"
    db.execute_sql(
        'CREATE TABLE IF NOT EXISTS "schema_version" '
        f'("version" INTEGER NOT NULL PRIMARY KEY, "applied_at" {kind} NOT NULL)'
    )


def applied(db: peewee.Database) -> set[int]:
    if "schema_version" not in db.get_tables():
        return set()
    return {row[0] for row in db.execute_sql('SELECT "version" FROM "schema_version"')}


def upgrade(db: peewee.Database | peewee.DatabaseProxy) -> list[int]:
    """Apply pending migrations; return the versions applied now."""
    target = db.obj if isinstance(db, peewee.DatabaseProxy) else db
    done = []
    with target.atomic():
        if isinstance(target, peewee.PostgresqlDatabase):
            target.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        _ensure_table(target)
        already = applied(target)
        for module in available():
            if module.VERSION in already:
                continue
            module.upgrade(target)
            target.execute_sql(
                'INSERT INTO "schema_version" ("version", "applied_at") VALUES (%s, %s)'
                if isinstance(target, peewee.PostgresqlDatabase)
                else 'INSERT INTO "schema_version" ("version", "applied_at") VALUES (?, ?)',
                (module.VERSION, utcnow()),
            )
            done.append(module.VERSION)
    return done


def pending(db: peewee.Database | peewee.DatabaseProxy) -> list[int]:
    target = db.obj if isinstance(db, peewee.DatabaseProxy) else db
    already = applied(target)
    return [module.VERSION for module in available() if module.VERSION not in already]


def require_current(db: peewee.Database | peewee.DatabaseProxy) -> None:
    """Fail fast when the schema is behind the code (``migrate_on_start = false``)."""
    missing = pending(db)
    if missing:
        raise ConfigError(
            f"the database schema lacks migrations {missing}: "
            "run `flask --app app db upgrade` before starting Ferry"
        )


def loaded_for_db_command() -> bool:
    """Whether the ``flask`` command line is loading the app to run one of the ``db`` commands.

    The CLI builds the app (``create_app``) before it looks up the command, so the command name
    comes from the arguments the ``flask`` group was started with: parsed with that group's
    own options, as click would (``--app app``, ``-A app``, ``--app=app``, ``--debug``). Under
    gunicorn, or any other caller, there is no ``flask`` group and the answer is no.
    """
    from flask.cli import FlaskGroup

    context = click.get_current_context(silent=True)
    if context is None or not isinstance(context.find_root().command, FlaskGroup):
        return False
    root = context.find_root()
    try:
        _options, arguments, _order = root.command.make_parser(root).parse_args(list(sys.argv[1:]))
    except click.ClickException:
        return False  # not our command line (the group was invoked from code)
    return bool(arguments) and arguments[0] == "db"


def init_app(app: Flask) -> None:
    from models.base import db

    group = click.Group("db", help="Database schema migrations.")

    @group.command("upgrade")
    def upgrade_command() -> None:
        """Apply every pending migration."""
        with db.connection_context():
            versions = upgrade(db)
        click.echo(f"applied: {_listed(versions)}" if versions else "schema is up to date")

    @group.command("status")
    def status_command() -> None:
        """Show applied and pending migrations."""
        with db.connection_context():
            done, missing = sorted(applied(db.obj)), pending(db)
        click.echo(f"applied: {_listed(done)}\npending: {_listed(missing)}")

    @group.command("purge")
    def purge_command() -> None:
        """Delete expired journey runs, codes, tokens and sessions, and old audit history."""
        from models.retention import purge

        with db.connection_context():
            try:
                require_current(db)  # loaded for a db command, the app did not check
            except ConfigError as error:
                raise click.ClickException(str(error)) from None
            counts = purge(app.config["AUDIT_RETENTION_DAYS"],
                           app.config["LEGACY_CALL_RETENTION_DAYS"])
        click.echo(", ".join(f"{name}: {count}" for name, count in counts.items()))

    app.cli.add_command(group)


def _listed(versions: list[int]) -> str:
    return ", ".join(str(version) for version in versions) or "none"
