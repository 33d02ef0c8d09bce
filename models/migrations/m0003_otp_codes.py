"""One-time sign-in codes (``otp_code``): an HMAC per journey run, never the code itself."""

from __future__ import annotations

import peewee

VERSION = 3

SQLITE = [
    'CREATE TABLE "otp_code" ("run_hash" VARCHAR(64) NOT NULL PRIMARY KEY, "code_hash" VARCHAR(64) NOT NULL, "failures" INTEGER NOT NULL, "expires_at" DATETIME NOT NULL, "used_at" DATETIME, FOREIGN KEY ("run_hash") REFERENCES "journey_run" ("id_hash") ON DELETE CASCADE)',
]

POSTGRES = [
    'CREATE TABLE "otp_code" ("run_hash" VARCHAR(64) NOT NULL PRIMARY KEY, "code_hash" VARCHAR(64) NOT NULL, "failures" INTEGER NOT NULL, "expires_at" TIMESTAMP NOT NULL, "used_at" TIMESTAMP, FOREIGN KEY ("run_hash") REFERENCES "journey_run" ("id_hash") ON DELETE CASCADE)',
]


def upgrade(db: peewee.Database) -> None:
    for statement in SQLITE if isinstance(db, peewee.SqliteDatabase) else POSTGRES:
        db.execute_sql(statement)
