"""The live configuration store (objects, their revisions, the store's revision counter) and the
admin portal's accounts, passkeys and sessions.

Frozen SQL generated from ``models.config_store`` of that day.
"""

from __future__ import annotations

import peewee

VERSION = 7

SQLITE = [
    'CREATE TABLE "config_object" ("id" INTEGER NOT NULL PRIMARY KEY, "kind" VARCHAR(32) NOT NULL, "name" VARCHAR(100) NOT NULL, "data" TEXT NOT NULL, "revision" INTEGER NOT NULL, "created_at" DATETIME NOT NULL, "created_by" VARCHAR(320) NOT NULL, "updated_at" DATETIME NOT NULL, "updated_by" VARCHAR(320) NOT NULL)',
    'CREATE UNIQUE INDEX "config_object_kind_name" ON "config_object" ("kind", "name")',
    'CREATE TABLE "config_revision" ("id" INTEGER NOT NULL PRIMARY KEY, "kind" VARCHAR(32) NOT NULL, "name" VARCHAR(100) NOT NULL, "revision" INTEGER NOT NULL, "action" VARCHAR(16) NOT NULL, "before" TEXT, "after" TEXT, "actor" VARCHAR(320) NOT NULL, "at" DATETIME NOT NULL)',
    'CREATE INDEX "config_revision_at" ON "config_revision" ("at")',
    'CREATE INDEX "config_revision_kind_name" ON "config_revision" ("kind", "name")',
    'CREATE TABLE "config_state" ("id" INTEGER NOT NULL PRIMARY KEY, "revision" INTEGER NOT NULL)',
    'CREATE TABLE "admin_account" ("id" INTEGER NOT NULL PRIMARY KEY, "email" VARCHAR(320) NOT NULL, "password_hash" VARCHAR(512) NOT NULL, "role" VARCHAR(16) NOT NULL, "created_at" DATETIME NOT NULL, "disabled_at" DATETIME, "last_signin_at" DATETIME)',
    'CREATE UNIQUE INDEX "admin_account_email" ON "admin_account" ("email")',
    'CREATE TABLE "admin_passkey" ("id" INTEGER NOT NULL PRIMARY KEY, "admin_id" INTEGER NOT NULL, "credential_id" VARCHAR(1400) NOT NULL, "public_key" TEXT NOT NULL, "sign_count" INTEGER NOT NULL, "name" VARCHAR(100) NOT NULL, "created_at" DATETIME NOT NULL, "last_used_at" DATETIME, FOREIGN KEY ("admin_id") REFERENCES "admin_account" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "admin_passkey_admin_id" ON "admin_passkey" ("admin_id")',
    'CREATE UNIQUE INDEX "admin_passkey_credential_id" ON "admin_passkey" ("credential_id")',
    'CREATE TABLE "admin_session" ("id_hash" VARCHAR(64) NOT NULL PRIMARY KEY, "admin_id" INTEGER NOT NULL, "created_at" DATETIME NOT NULL, "expires_at" DATETIME NOT NULL, "ended_at" DATETIME, FOREIGN KEY ("admin_id") REFERENCES "admin_account" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "admin_session_admin_id" ON "admin_session" ("admin_id")',
    'INSERT INTO "config_state" ("id", "revision") VALUES (1, 0)',
]

POSTGRES = [
    'CREATE TABLE "config_object" ("id" SERIAL NOT NULL PRIMARY KEY, "kind" VARCHAR(32) NOT NULL, "name" VARCHAR(100) NOT NULL, "data" TEXT NOT NULL, "revision" INTEGER NOT NULL, "created_at" TIMESTAMP NOT NULL, "created_by" VARCHAR(320) NOT NULL, "updated_at" TIMESTAMP NOT NULL, "updated_by" VARCHAR(320) NOT NULL)',
    'CREATE UNIQUE INDEX "config_object_kind_name" ON "config_object" ("kind", "name")',
    'CREATE TABLE "config_revision" ("id" SERIAL NOT NULL PRIMARY KEY, "kind" VARCHAR(32) NOT NULL, "name" VARCHAR(100) NOT NULL, "revision" INTEGER NOT NULL, "action" VARCHAR(16) NOT NULL, "before" TEXT, "after" TEXT, "actor" VARCHAR(320) NOT NULL, "at" TIMESTAMP NOT NULL)',
    'CREATE INDEX "config_revision_at" ON "config_revision" ("at")',
    'CREATE INDEX "config_revision_kind_name" ON "config_revision" ("kind", "name")',
    'CREATE TABLE "config_state" ("id" INTEGER NOT NULL PRIMARY KEY, "revision" INTEGER NOT NULL)',
    'CREATE TABLE "admin_account" ("id" SERIAL NOT NULL PRIMARY KEY, "email" VARCHAR(320) NOT NULL, "password_hash" VARCHAR(512) NOT NULL, "role" VARCHAR(16) NOT NULL, "created_at" TIMESTAMP NOT NULL, "disabled_at" TIMESTAMP, "last_signin_at" TIMESTAMP)',
    'CREATE UNIQUE INDEX "admin_account_email" ON "admin_account" ("email")',
    'CREATE TABLE "admin_passkey" ("id" SERIAL NOT NULL PRIMARY KEY, "admin_id" INTEGER NOT NULL, "credential_id" VARCHAR(1400) NOT NULL, "public_key" TEXT NOT NULL, "sign_count" INTEGER NOT NULL, "name" VARCHAR(100) NOT NULL, "created_at" TIMESTAMP NOT NULL, "last_used_at" TIMESTAMP, FOREIGN KEY ("admin_id") REFERENCES "admin_account" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "admin_passkey_admin_id" ON "admin_passkey" ("admin_id")',
    'CREATE UNIQUE INDEX "admin_passkey_credential_id" ON "admin_passkey" ("credential_id")',
    'CREATE TABLE "admin_session" ("id_hash" VARCHAR(64) NOT NULL PRIMARY KEY, "admin_id" INTEGER NOT NULL, "created_at" TIMESTAMP NOT NULL, "expires_at" TIMESTAMP NOT NULL, "ended_at" TIMESTAMP, FOREIGN KEY ("admin_id") REFERENCES "admin_account" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "admin_session_admin_id" ON "admin_session" ("admin_id")',
    'INSERT INTO "config_state" ("id", "revision") VALUES (1, 0)',
]



def upgrade(db: peewee.Database) -> None:
    for statement in SQLITE if isinstance(db, peewee.SqliteDatabase) else POSTGRES:
        db.execute_sql(statement)
