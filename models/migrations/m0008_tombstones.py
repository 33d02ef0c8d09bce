"""Tombstones of deleted users' legacy identities, so they are not migrated again.

Frozen SQL generated from ``models.tombstones`` of that day.
"""

from __future__ import annotations

import peewee

VERSION = 8

SQLITE = [
    'CREATE TABLE "legacy_tombstone" ("id" INTEGER NOT NULL PRIMARY KEY, "connector" VARCHAR(100) NOT NULL, "subject" VARCHAR(255) NOT NULL, "deleted_at" DATETIME NOT NULL, "deleted_by" VARCHAR(320) NOT NULL)',
    'CREATE UNIQUE INDEX "legacy_tombstone_connector_subject" ON "legacy_tombstone" ("connector", "subject")',
]

POSTGRES = [
    'CREATE TABLE "legacy_tombstone" ("id" SERIAL NOT NULL PRIMARY KEY, "connector" VARCHAR(100) NOT NULL, "subject" VARCHAR(255) NOT NULL, "deleted_at" TIMESTAMP NOT NULL, "deleted_by" VARCHAR(320) NOT NULL)',
    'CREATE UNIQUE INDEX "legacy_tombstone_connector_subject" ON "legacy_tombstone" ("connector", "subject")',
]


def upgrade(db: peewee.Database) -> None:
    for statement in SQLITE if isinstance(db, peewee.SqliteDatabase) else POSTGRES:
        db.execute_sql(statement)
