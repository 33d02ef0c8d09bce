"""The roster (users known at the legacy side) and the record of legacy calls.

Frozen SQL generated from ``models.lifecycle`` of that day, then :data:`BACKFILL`: every user
migrated before this version gets a migrated roster entry per connector it came from, so the
dashboard counts them from the start.
"""

from __future__ import annotations

import peewee

VERSION = 9

SQLITE = [
    'CREATE TABLE "roster_entry" ("id" INTEGER NOT NULL PRIMARY KEY, "connector" VARCHAR(100) NOT NULL, "subject" VARCHAR(255), "email" VARCHAR(320), "username" VARCHAR(150), "phone" VARCHAR(32), "attributes" TEXT NOT NULL, "source" VARCHAR(200) NOT NULL, "user_id" VARCHAR(32), "migrated_at" DATETIME, "legacy_last_signin_at" DATETIME, "added_at" DATETIME NOT NULL, "updated_at" DATETIME NOT NULL)',
    'CREATE INDEX "roster_entry_user_id" ON "roster_entry" ("user_id")',
    'CREATE INDEX "roster_entry_migrated_at" ON "roster_entry" ("migrated_at")',
    'CREATE UNIQUE INDEX "roster_entry_connector_subject" ON "roster_entry" ("connector", "subject")',
    'CREATE UNIQUE INDEX "roster_entry_connector_email" ON "roster_entry" ("connector", "email")',
    'CREATE UNIQUE INDEX "roster_entry_connector_username" ON "roster_entry" ("connector", "username")',
    'CREATE UNIQUE INDEX "roster_entry_connector_phone" ON "roster_entry" ("connector", "phone")',
    'CREATE TABLE "legacy_call" ("id" INTEGER NOT NULL PRIMARY KEY, "at" DATETIME NOT NULL, "connector" VARCHAR(100) NOT NULL, "operation" VARCHAR(64) NOT NULL, "outcome" VARCHAR(16) NOT NULL, "ms" REAL NOT NULL)',
    'CREATE INDEX "legacy_call_at" ON "legacy_call" ("at")',
    'CREATE INDEX "legacy_call_connector_at" ON "legacy_call" ("connector", "at")',
]

POSTGRES = [
    'CREATE TABLE "roster_entry" ("id" SERIAL NOT NULL PRIMARY KEY, "connector" VARCHAR(100) NOT NULL, "subject" VARCHAR(255), "email" VARCHAR(320), "username" VARCHAR(150), "phone" VARCHAR(32), "attributes" TEXT NOT NULL, "source" VARCHAR(200) NOT NULL, "user_id" VARCHAR(32), "migrated_at" TIMESTAMP, "legacy_last_signin_at" TIMESTAMP, "added_at" TIMESTAMP NOT NULL, "updated_at" TIMESTAMP NOT NULL)',
    'CREATE INDEX "roster_entry_user_id" ON "roster_entry" ("user_id")',
    'CREATE INDEX "roster_entry_migrated_at" ON "roster_entry" ("migrated_at")',
    'CREATE UNIQUE INDEX "roster_entry_connector_subject" ON "roster_entry" ("connector", "subject")',
    'CREATE UNIQUE INDEX "roster_entry_connector_email" ON "roster_entry" ("connector", "email")',
    'CREATE UNIQUE INDEX "roster_entry_connector_username" ON "roster_entry" ("connector", "username")',
    'CREATE UNIQUE INDEX "roster_entry_connector_phone" ON "roster_entry" ("connector", "phone")',
    'CREATE TABLE "legacy_call" ("id" SERIAL NOT NULL PRIMARY KEY, "at" TIMESTAMP NOT NULL, "connector" VARCHAR(100) NOT NULL, "operation" VARCHAR(64) NOT NULL, "outcome" VARCHAR(16) NOT NULL, "ms" REAL NOT NULL)',
    'CREATE INDEX "legacy_call_at" ON "legacy_call" ("at")',
    'CREATE INDEX "legacy_call_connector_at" ON "legacy_call" ("connector", "at")',
]

BACKFILL = (
    'INSERT INTO "roster_entry" ("connector", "subject", "email", "username", "phone", '
    '"attributes", "source", "user_id", "migrated_at", "added_at", "updated_at") '
    'SELECT l."connector", MIN(l."subject"), u."email", u."username", u."phone", \'{}\', '
    '\'migration\', u."id", MIN(l."migrated_at"), MIN(l."migrated_at"), MIN(l."migrated_at") '
    'FROM "legacy_link" l JOIN "user" u ON u."id" = l."user_id" '
    'GROUP BY l."connector", u."id", u."email", u."username", u."phone"'
)


def upgrade(db: peewee.Database) -> None:
    for statement in SQLITE if isinstance(db, peewee.SqliteDatabase) else POSTGRES:
        db.execute_sql(statement)
    db.execute_sql(BACKFILL)
