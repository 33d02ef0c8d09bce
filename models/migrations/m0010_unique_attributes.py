"""Values of the custom attributes the user schema declares unique, kept unique by an index.

Frozen SQL generated from ``models.users.UniqueAttribute`` of that day.
"""

from __future__ import annotations

import peewee

VERSION = 10

SQLITE = [
    'CREATE TABLE "unique_attribute" ("id" INTEGER NOT NULL PRIMARY KEY, "user_id" VARCHAR(32) NOT NULL, "name" VARCHAR(63) NOT NULL, "value" VARCHAR(320) NOT NULL, FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "unique_attribute_user_id" ON "unique_attribute" ("user_id")',
    'CREATE UNIQUE INDEX "unique_attribute_name_value" ON "unique_attribute" ("name", "value")',
    'CREATE UNIQUE INDEX "unique_attribute_user_id_name" ON "unique_attribute" ("user_id", "name")',
]

POSTGRES = [
    'CREATE TABLE "unique_attribute" ("id" SERIAL NOT NULL PRIMARY KEY, "user_id" VARCHAR(32) NOT NULL, "name" VARCHAR(63) NOT NULL, "value" VARCHAR(320) NOT NULL, FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "unique_attribute_user_id" ON "unique_attribute" ("user_id")',
    'CREATE UNIQUE INDEX "unique_attribute_name_value" ON "unique_attribute" ("name", "value")',
    'CREATE UNIQUE INDEX "unique_attribute_user_id_name" ON "unique_attribute" ("user_id", "name")',
]


def upgrade(db: peewee.Database) -> None:
    for statement in SQLITE if isinstance(db, peewee.SqliteDatabase) else POSTGRES:
        db.execute_sql(statement)
