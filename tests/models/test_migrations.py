"""Schema migrations: applied once, in order, on SQLite and PostgreSQL; the CLI reports them."""

from __future__ import annotations

import pytest

from models import ALL_MODELS, db, migrations
from models.database import open_database
from settings.errors import ConfigError


def test_upgrade_creates_every_table_once(database_url):
    database = open_database(database_url)
    with database.connection_context():
        assert migrations.upgrade(database) == [m.VERSION for m in migrations.available()]
        assert migrations.upgrade(database) == []
        tables = set(database.get_tables())
    assert {model._meta.table_name for model in ALL_MODELS} <= tables
    if hasattr(database, "close_all"):
        database.close_all()


def test_models_match_the_migrated_schema(make_app, database_url):
    """Every model column exists in the migrated database (a model change needs a migration)."""
    make_app(database_url)
    with db.connection_context():
        for model in ALL_MODELS:
            columns = {c.name for c in db.get_columns(model._meta.table_name)}
            assert set(model._meta.columns) <= columns, model.__name__


def test_sqlite_runs_in_wal_mode_with_foreign_keys(app):
    with db.connection_context():
        assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1


def test_a_behind_schema_stops_start_up_when_not_migrating(make_app, tmp_path):
    with pytest.raises(ConfigError, match="db upgrade"):
        make_app(f"sqlite:///{tmp_path}/empty.db", MIGRATE_ON_START=False)


def test_cli_upgrade_and_status(app):
    runner = app.test_cli_runner()
    assert "schema is up to date" in runner.invoke(args=["db", "upgrade"]).output
    assert "pending: none" in runner.invoke(args=["db", "status"]).output


def test_purge_deletes_only_what_expired(app):
    from datetime import timedelta

    from models import JourneyRun, utcnow

    with db.connection_context():
        now = utcnow()
        JourneyRun.create(id_hash="old", journey="sign-in", step="collect", expires_at=now - timedelta(1))
        JourneyRun.create(id_hash="new", journey="sign-in", step="collect", expires_at=now + timedelta(1))
    output = app.test_cli_runner().invoke(args=["db", "purge"]).output
    assert "journey_runs: 1" in output
    with db.connection_context():
        assert [run.id_hash for run in JourneyRun.select()] == ["new"]


def test_users_migrated_before_the_roster_existed_are_counted_in_it(database_url):
    """m0009 gives every user already migrated a migrated roster entry per connector."""
    database = open_database(database_url)
    with database.connection_context():
        placeholder = "%s" if "postgres" in database_url else "?"
        with database.atomic():
            migrations._ensure_table(database)
            for module in migrations.available():
                if module.VERSION < 9:
                    module.upgrade(database)
                    database.execute_sql('INSERT INTO "schema_version" VALUES '  # noqa: S608 - only placeholders are formatted in
                                         f"({placeholder}, CURRENT_TIMESTAMP)", (module.VERSION,))
        for number, email in enumerate(("ada@example.com", "bo@example.com")):
            database.execute_sql(
                'INSERT INTO "user" ("id", "email", "email_verified", "phone_verified", '  # noqa: S608 - placeholders only
                '"attributes", "status", "created_at", "updated_at", "signin_count") VALUES '
                f"({', '.join([placeholder] * 9)})",
                (f"u{number}", email, True, False, "{}", "active", "2026-01-01", "2026-01-01", 0))
            database.execute_sql(
                'INSERT INTO "legacy_link" ("user_id", "connector", "subject", "migrated_at", '  # noqa: S608 - placeholders only
                f'"last_seen_at") VALUES ({", ".join([placeholder] * 5)})',
                (f"u{number}", "corp", f"s{number}", "2026-02-0" + str(number + 1), "2026-03-01"))
        assert migrations.upgrade(database) == [m.VERSION for m in migrations.available()
                                                if m.VERSION >= 9]
        rows = database.execute_sql('SELECT "connector", "subject", "email", "user_id", "source" '
                                    'FROM "roster_entry" ORDER BY "email"').fetchall()
    assert [tuple(row) for row in rows] == [("corp", "s0", "ada@example.com", "u0", "migration"),
                                            ("corp", "s1", "bo@example.com", "u1", "migration")]
    if hasattr(database, "close_all"):
        database.close_all()
