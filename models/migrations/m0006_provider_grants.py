"""Refresh tokens, remembered consent, spent client assertions, back-channel logout deliveries;
tokens tied to the session they came from, a public ``sid`` per session, and extra code claims.

Frozen SQL generated from ``models.grants`` and ``models.oauth`` of that day.
"""

from __future__ import annotations

import peewee

VERSION = 6

SQLITE = [
    'CREATE TABLE "refresh_token" ("token_hash" VARCHAR(64) NOT NULL PRIMARY KEY, "family" VARCHAR(64) NOT NULL, "client_id" VARCHAR(100) NOT NULL, "user_id" VARCHAR(32) NOT NULL, "scope" TEXT NOT NULL, "session_id" VARCHAR(64), "auth_time" INTEGER NOT NULL, "amr" TEXT NOT NULL, "acr" VARCHAR(100), "created_at" DATETIME NOT NULL, "idle_expires_at" DATETIME NOT NULL, "absolute_expires_at" DATETIME NOT NULL, "used_at" DATETIME, "revoked_at" DATETIME, FOREIGN KEY ("client_id") REFERENCES "oauth_client" ("client_id") ON DELETE CASCADE, FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "refresh_token_family" ON "refresh_token" ("family")',
    'CREATE INDEX "refresh_token_client_id" ON "refresh_token" ("client_id")',
    'CREATE INDEX "refresh_token_user_id" ON "refresh_token" ("user_id")',
    'CREATE INDEX "refresh_token_session_id" ON "refresh_token" ("session_id")',
    'CREATE TABLE "consent_grant" ("id" INTEGER NOT NULL PRIMARY KEY, "user_id" VARCHAR(32) NOT NULL, "client_id" VARCHAR(100) NOT NULL, "scopes" TEXT NOT NULL, "granted_at" DATETIME NOT NULL, FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE CASCADE, FOREIGN KEY ("client_id") REFERENCES "oauth_client" ("client_id") ON DELETE CASCADE)',
    'CREATE INDEX "consent_grant_user_id" ON "consent_grant" ("user_id")',
    'CREATE INDEX "consent_grant_client_id" ON "consent_grant" ("client_id")',
    'CREATE UNIQUE INDEX "consent_grant_user_id_client_id" ON "consent_grant" ("user_id", "client_id")',
    'CREATE TABLE "client_assertion" ("id" INTEGER NOT NULL PRIMARY KEY, "client_id" VARCHAR(100) NOT NULL, "jti" VARCHAR(255) NOT NULL, "expires_at" DATETIME NOT NULL, FOREIGN KEY ("client_id") REFERENCES "oauth_client" ("client_id") ON DELETE CASCADE)',
    'CREATE INDEX "client_assertion_client_id" ON "client_assertion" ("client_id")',
    'CREATE UNIQUE INDEX "client_assertion_client_id_jti" ON "client_assertion" ("client_id", "jti")',
    'CREATE TABLE "logout_delivery" ("id" INTEGER NOT NULL PRIMARY KEY, "client_id" VARCHAR(100) NOT NULL, "subject" VARCHAR(32) NOT NULL, "sid" VARCHAR(64), "created_at" DATETIME NOT NULL, "attempts" INTEGER NOT NULL, "next_attempt_at" DATETIME NOT NULL, "claimed_until" DATETIME, "delivered_at" DATETIME, "abandoned_at" DATETIME, "last_error" VARCHAR(300), FOREIGN KEY ("client_id") REFERENCES "oauth_client" ("client_id") ON DELETE CASCADE)',
    'CREATE INDEX "logout_delivery_client_id" ON "logout_delivery" ("client_id")',
    'CREATE INDEX "logout_delivery_next_attempt_at" ON "logout_delivery" ("next_attempt_at")',
    'ALTER TABLE "token" ADD COLUMN "session_id" VARCHAR(64)',
    'ALTER TABLE "token" ADD COLUMN "refresh_family" VARCHAR(64)',
    'CREATE INDEX "token_session_id" ON "token" ("session_id")',
    'CREATE INDEX "token_refresh_family" ON "token" ("refresh_family")',
    'ALTER TABLE "user_session" ADD COLUMN "sid" VARCHAR(64)',
    'CREATE UNIQUE INDEX "user_session_sid" ON "user_session" ("sid")',
    'ALTER TABLE "authorization_code" ADD COLUMN "claims" TEXT',
    'CREATE INDEX "authorization_code_session_id" ON "authorization_code" ("session_id")',
]

POSTGRES = [
    'CREATE TABLE "refresh_token" ("token_hash" VARCHAR(64) NOT NULL PRIMARY KEY, "family" VARCHAR(64) NOT NULL, "client_id" VARCHAR(100) NOT NULL, "user_id" VARCHAR(32) NOT NULL, "scope" TEXT NOT NULL, "session_id" VARCHAR(64), "auth_time" INTEGER NOT NULL, "amr" TEXT NOT NULL, "acr" VARCHAR(100), "created_at" TIMESTAMP NOT NULL, "idle_expires_at" TIMESTAMP NOT NULL, "absolute_expires_at" TIMESTAMP NOT NULL, "used_at" TIMESTAMP, "revoked_at" TIMESTAMP, FOREIGN KEY ("client_id") REFERENCES "oauth_client" ("client_id") ON DELETE CASCADE, FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "refresh_token_family" ON "refresh_token" ("family")',
    'CREATE INDEX "refresh_token_client_id" ON "refresh_token" ("client_id")',
    'CREATE INDEX "refresh_token_user_id" ON "refresh_token" ("user_id")',
    'CREATE INDEX "refresh_token_session_id" ON "refresh_token" ("session_id")',
    'CREATE TABLE "consent_grant" ("id" SERIAL NOT NULL PRIMARY KEY, "user_id" VARCHAR(32) NOT NULL, "client_id" VARCHAR(100) NOT NULL, "scopes" TEXT NOT NULL, "granted_at" TIMESTAMP NOT NULL, FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE CASCADE, FOREIGN KEY ("client_id") REFERENCES "oauth_client" ("client_id") ON DELETE CASCADE)',
    'CREATE INDEX "consent_grant_user_id" ON "consent_grant" ("user_id")',
    'CREATE INDEX "consent_grant_client_id" ON "consent_grant" ("client_id")',
    'CREATE UNIQUE INDEX "consent_grant_user_id_client_id" ON "consent_grant" ("user_id", "client_id")',
    'CREATE TABLE "client_assertion" ("id" SERIAL NOT NULL PRIMARY KEY, "client_id" VARCHAR(100) NOT NULL, "jti" VARCHAR(255) NOT NULL, "expires_at" TIMESTAMP NOT NULL, FOREIGN KEY ("client_id") REFERENCES "oauth_client" ("client_id") ON DELETE CASCADE)',
    'CREATE INDEX "client_assertion_client_id" ON "client_assertion" ("client_id")',
    'CREATE UNIQUE INDEX "client_assertion_client_id_jti" ON "client_assertion" ("client_id", "jti")',
    'CREATE TABLE "logout_delivery" ("id" SERIAL NOT NULL PRIMARY KEY, "client_id" VARCHAR(100) NOT NULL, "subject" VARCHAR(32) NOT NULL, "sid" VARCHAR(64), "created_at" TIMESTAMP NOT NULL, "attempts" INTEGER NOT NULL, "next_attempt_at" TIMESTAMP NOT NULL, "claimed_until" TIMESTAMP, "delivered_at" TIMESTAMP, "abandoned_at" TIMESTAMP, "last_error" VARCHAR(300), FOREIGN KEY ("client_id") REFERENCES "oauth_client" ("client_id") ON DELETE CASCADE)',
    'CREATE INDEX "logout_delivery_client_id" ON "logout_delivery" ("client_id")',
    'CREATE INDEX "logout_delivery_next_attempt_at" ON "logout_delivery" ("next_attempt_at")',
    'ALTER TABLE "token" ADD COLUMN "session_id" VARCHAR(64)',
    'ALTER TABLE "token" ADD COLUMN "refresh_family" VARCHAR(64)',
    'CREATE INDEX "token_session_id" ON "token" ("session_id")',
    'CREATE INDEX "token_refresh_family" ON "token" ("refresh_family")',
    'ALTER TABLE "user_session" ADD COLUMN "sid" VARCHAR(64)',
    'CREATE UNIQUE INDEX "user_session_sid" ON "user_session" ("sid")',
    'ALTER TABLE "authorization_code" ADD COLUMN "claims" TEXT',
    'CREATE INDEX "authorization_code_session_id" ON "authorization_code" ("session_id")',
]


def upgrade(db: peewee.Database) -> None:
    for statement in SQLITE if isinstance(db, peewee.SqliteDatabase) else POSTGRES:
        db.execute_sql(statement)
