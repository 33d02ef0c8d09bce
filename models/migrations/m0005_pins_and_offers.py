"""Device-bound PINs, answers to enrollment offers, and each user's sign-in count.

Frozen SQL generated from ``models.pins`` and ``models.users.User.signin_count`` of that day.
"""

from __future__ import annotations

import peewee

VERSION = 5

SQLITE = [
    'CREATE TABLE "pin_credential" ("id" INTEGER NOT NULL PRIMARY KEY, "user_id" VARCHAR(32) NOT NULL, "credential_id" VARCHAR(1400) NOT NULL, "public_key" BLOB NOT NULL, "sign_count" INTEGER NOT NULL, "pin_hash" VARCHAR(512) NOT NULL, "failed_attempts" INTEGER NOT NULL, "disabled_at" DATETIME, "name" VARCHAR(100) NOT NULL, "created_at" DATETIME NOT NULL, "last_used_at" DATETIME, FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "pin_credential_user_id" ON "pin_credential" ("user_id")',
    'CREATE UNIQUE INDEX "pin_credential_credential_id" ON "pin_credential" ("credential_id")',
    'CREATE TABLE "enrollment_offer" ("id" INTEGER NOT NULL PRIMARY KEY, "user_id" VARCHAR(32) NOT NULL, "kind" VARCHAR(32) NOT NULL, "declined" INTEGER NOT NULL, "ask_after" INTEGER, "updated_at" DATETIME NOT NULL, FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "enrollment_offer_user_id" ON "enrollment_offer" ("user_id")',
    'CREATE UNIQUE INDEX "enrollment_offer_user_id_kind" ON "enrollment_offer" ("user_id", "kind")',
    'ALTER TABLE "user" ADD COLUMN "signin_count" INTEGER NOT NULL DEFAULT 0',
]

POSTGRES = [
    'CREATE TABLE "pin_credential" ("id" SERIAL NOT NULL PRIMARY KEY, "user_id" VARCHAR(32) NOT NULL, "credential_id" VARCHAR(1400) NOT NULL, "public_key" BYTEA NOT NULL, "sign_count" BIGINT NOT NULL, "pin_hash" VARCHAR(512) NOT NULL, "failed_attempts" INTEGER NOT NULL, "disabled_at" TIMESTAMP, "name" VARCHAR(100) NOT NULL, "created_at" TIMESTAMP NOT NULL, "last_used_at" TIMESTAMP, FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "pin_credential_user_id" ON "pin_credential" ("user_id")',
    'CREATE UNIQUE INDEX "pin_credential_credential_id" ON "pin_credential" ("credential_id")',
    'CREATE TABLE "enrollment_offer" ("id" SERIAL NOT NULL PRIMARY KEY, "user_id" VARCHAR(32) NOT NULL, "kind" VARCHAR(32) NOT NULL, "declined" INTEGER NOT NULL, "ask_after" INTEGER, "updated_at" TIMESTAMP NOT NULL, FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "enrollment_offer_user_id" ON "enrollment_offer" ("user_id")',
    'CREATE UNIQUE INDEX "enrollment_offer_user_id_kind" ON "enrollment_offer" ("user_id", "kind")',
    'ALTER TABLE "user" ADD COLUMN "signin_count" INTEGER NOT NULL DEFAULT 0',
]


def upgrade(db: peewee.Database) -> None:
    for statement in SQLITE if isinstance(db, peewee.SqliteDatabase) else POSTGRES:
        db.execute_sql(statement)
