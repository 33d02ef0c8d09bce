"""Passkeys: the WebAuthn credentials users register with Ferry.

Frozen SQL generated from ``models.passkeys.PasskeyCredential`` of that day, like m0001.
"""

from __future__ import annotations

import peewee

VERSION = 4

SQLITE = [
    'CREATE TABLE "passkey_credential" ("id" INTEGER NOT NULL PRIMARY KEY, "user_id" VARCHAR(32) NOT NULL, "credential_id" VARCHAR(1400) NOT NULL, "public_key" BLOB NOT NULL, "sign_count" INTEGER NOT NULL, "transports" TEXT NOT NULL, "name" VARCHAR(100) NOT NULL, "backup_eligible" INTEGER NOT NULL, "backed_up" INTEGER NOT NULL, "created_at" DATETIME NOT NULL, "last_used_at" DATETIME, FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "passkey_credential_user_id" ON "passkey_credential" ("user_id")',
    'CREATE UNIQUE INDEX "passkey_credential_credential_id" ON "passkey_credential" ("credential_id")',
]

POSTGRES = [
    'CREATE TABLE "passkey_credential" ("id" SERIAL NOT NULL PRIMARY KEY, "user_id" VARCHAR(32) NOT NULL, "credential_id" VARCHAR(1400) NOT NULL, "public_key" BYTEA NOT NULL, "sign_count" BIGINT NOT NULL, "transports" TEXT NOT NULL, "name" VARCHAR(100) NOT NULL, "backup_eligible" BOOLEAN NOT NULL, "backed_up" BOOLEAN NOT NULL, "created_at" TIMESTAMP NOT NULL, "last_used_at" TIMESTAMP, FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "passkey_credential_user_id" ON "passkey_credential" ("user_id")',
    'CREATE UNIQUE INDEX "passkey_credential_credential_id" ON "passkey_credential" ("credential_id")',
]


def upgrade(db: peewee.Database) -> None:
    for statement in SQLITE if isinstance(db, peewee.SqliteDatabase) else POSTGRES:
        db.execute_sql(statement)
