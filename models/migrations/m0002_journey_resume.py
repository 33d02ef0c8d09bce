"""Journey resume references: find a run from a redirect IdP's cross-site answer."""

from __future__ import annotations

import peewee

VERSION = 2

SQLITE = [
    'CREATE TABLE "journey_resume" ("reference_hash" VARCHAR(64) NOT NULL PRIMARY KEY, "run_hash" VARCHAR(64) NOT NULL, "connector" VARCHAR(100) NOT NULL, "expires_at" DATETIME NOT NULL, FOREIGN KEY ("run_hash") REFERENCES "journey_run" ("id_hash") ON DELETE CASCADE)',
    'CREATE INDEX "journey_resume_run_hash" ON "journey_resume" ("run_hash")',
    'CREATE INDEX "journey_resume_expires_at" ON "journey_resume" ("expires_at")',
]

POSTGRES = [
    'CREATE TABLE "journey_resume" ("reference_hash" VARCHAR(64) NOT NULL PRIMARY KEY, "run_hash" VARCHAR(64) NOT NULL, "connector" VARCHAR(100) NOT NULL, "expires_at" TIMESTAMP NOT NULL, FOREIGN KEY ("run_hash") REFERENCES "journey_run" ("id_hash") ON DELETE CASCADE)',
    'CREATE INDEX "journey_resume_run_hash" ON "journey_resume" ("run_hash")',
    'CREATE INDEX "journey_resume_expires_at" ON "journey_resume" ("expires_at")',
]


def upgrade(db: peewee.Database) -> None:
    for statement in SQLITE if isinstance(db, peewee.SqliteDatabase) else POSTGRES:
        db.execute_sql(statement)
