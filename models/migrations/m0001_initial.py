"""The first schema: every table of the foundation.

Frozen SQL, generated once from the models of that day, so later model changes never
alter what this migration does. Later migrations use ``playhouse.migrate`` operations.
"""

from __future__ import annotations

import peewee

VERSION = 1

SQLITE = [
    'CREATE TABLE "user" ("id" VARCHAR(32) NOT NULL PRIMARY KEY, "email" VARCHAR(320), "email_verified" INTEGER NOT NULL, "phone" VARCHAR(32), "phone_verified" INTEGER NOT NULL, "username" VARCHAR(150), "given_name" VARCHAR(200), "family_name" VARCHAR(200), "name" VARCHAR(400), "locale" VARCHAR(35), "attributes" TEXT NOT NULL, "status" VARCHAR(16) NOT NULL, "created_at" DATETIME NOT NULL, "updated_at" DATETIME NOT NULL, "last_signin_at" DATETIME)',
    'CREATE UNIQUE INDEX "user_email" ON "user" ("email")',
    'CREATE UNIQUE INDEX "user_phone" ON "user" ("phone")',
    'CREATE UNIQUE INDEX "user_username" ON "user" ("username")',
    'CREATE TABLE "legacy_link" ("id" INTEGER NOT NULL PRIMARY KEY, "user_id" VARCHAR(32) NOT NULL, "connector" VARCHAR(100) NOT NULL, "subject" VARCHAR(255) NOT NULL, "migrated_at" DATETIME NOT NULL, "last_seen_at" DATETIME NOT NULL, FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "legacy_link_user_id" ON "legacy_link" ("user_id")',
    'CREATE UNIQUE INDEX "legacy_link_connector_subject" ON "legacy_link" ("connector", "subject")',
    'CREATE TABLE "password_credential" ("id" INTEGER NOT NULL PRIMARY KEY, "user_id" VARCHAR(32) NOT NULL, "hash" VARCHAR(512) NOT NULL, "source" VARCHAR(120) NOT NULL, "created_at" DATETIME NOT NULL, "updated_at" DATETIME NOT NULL, FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE CASCADE)',
    'CREATE UNIQUE INDEX "password_credential_user_id" ON "password_credential" ("user_id")',
    'CREATE TABLE "oauth_client" ("client_id" VARCHAR(100) NOT NULL PRIMARY KEY, "name" VARCHAR(200) NOT NULL, "secret_hash" VARCHAR(512), "redirect_uris" TEXT NOT NULL, "post_logout_redirect_uris" TEXT NOT NULL, "scopes" TEXT NOT NULL, "journey" VARCHAR(100) NOT NULL, "theme" VARCHAR(100), "settings" TEXT NOT NULL, "source" VARCHAR(16) NOT NULL, "updated_at" DATETIME NOT NULL)',
    'CREATE TABLE "authorization_code" ("code_hash" VARCHAR(64) NOT NULL PRIMARY KEY, "client_id" VARCHAR(100) NOT NULL, "user_id" VARCHAR(32) NOT NULL, "redirect_uri" TEXT NOT NULL, "scope" TEXT NOT NULL, "nonce" VARCHAR(255), "code_challenge" VARCHAR(128), "code_challenge_method" VARCHAR(10), "auth_time" INTEGER NOT NULL, "amr" TEXT NOT NULL, "acr" VARCHAR(100), "session_id" VARCHAR(64), "expires_at" DATETIME NOT NULL, "used_at" DATETIME, FOREIGN KEY ("client_id") REFERENCES "oauth_client" ("client_id") ON DELETE CASCADE, FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "authorization_code_client_id" ON "authorization_code" ("client_id")',
    'CREATE INDEX "authorization_code_user_id" ON "authorization_code" ("user_id")',
    'CREATE TABLE "token" ("access_token_hash" VARCHAR(64) NOT NULL PRIMARY KEY, "refresh_token_hash" VARCHAR(64), "client_id" VARCHAR(100) NOT NULL, "user_id" VARCHAR(32) NOT NULL, "scope" TEXT NOT NULL, "code_hash" VARCHAR(64), "issued_at" DATETIME NOT NULL, "expires_at" DATETIME NOT NULL, "revoked" INTEGER NOT NULL, FOREIGN KEY ("client_id") REFERENCES "oauth_client" ("client_id") ON DELETE CASCADE, FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE CASCADE)',
    'CREATE UNIQUE INDEX "token_refresh_token_hash" ON "token" ("refresh_token_hash")',
    'CREATE INDEX "token_client_id" ON "token" ("client_id")',
    'CREATE INDEX "token_user_id" ON "token" ("user_id")',
    'CREATE INDEX "token_code_hash" ON "token" ("code_hash")',
    'CREATE TABLE "signing_key" ("kid" VARCHAR(64) NOT NULL PRIMARY KEY, "alg" VARCHAR(10) NOT NULL, "private_pem" TEXT NOT NULL, "public_jwk" TEXT NOT NULL, "created_at" DATETIME NOT NULL, "active" INTEGER NOT NULL, "retired_at" DATETIME)',
    'CREATE TABLE "user_session" ("id_hash" VARCHAR(64) NOT NULL PRIMARY KEY, "user_id" VARCHAR(32) NOT NULL, "created_at" DATETIME NOT NULL, "expires_at" DATETIME NOT NULL, "auth_time" INTEGER NOT NULL, "amr" TEXT NOT NULL, "ended_at" DATETIME, FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "user_session_user_id" ON "user_session" ("user_id")',
    'CREATE TABLE "journey_run" ("id_hash" VARCHAR(64) NOT NULL PRIMARY KEY, "journey" VARCHAR(100) NOT NULL, "step" VARCHAR(100) NOT NULL, "context" TEXT NOT NULL, "client_id" VARCHAR(100), "version" INTEGER NOT NULL, "status" VARCHAR(16) NOT NULL, "created_at" DATETIME NOT NULL, "updated_at" DATETIME NOT NULL, "expires_at" DATETIME NOT NULL)',
    'CREATE INDEX "journey_run_expires_at" ON "journey_run" ("expires_at")',
    'CREATE TABLE "audit_event" ("id" INTEGER NOT NULL PRIMARY KEY, "at" DATETIME NOT NULL, "event" VARCHAR(64) NOT NULL, "user_id" VARCHAR(32), "client_id" VARCHAR(100), "connector" VARCHAR(100), "ip" VARCHAR(45), "details" TEXT NOT NULL)',
    'CREATE INDEX "audit_event_at" ON "audit_event" ("at")',
    'CREATE INDEX "audit_event_event" ON "audit_event" ("event")',
    'CREATE INDEX "audit_event_user_id" ON "audit_event" ("user_id")',
]

POSTGRES = [
    'CREATE TABLE "user" ("id" VARCHAR(32) NOT NULL PRIMARY KEY, "email" VARCHAR(320), "email_verified" BOOLEAN NOT NULL, "phone" VARCHAR(32), "phone_verified" BOOLEAN NOT NULL, "username" VARCHAR(150), "given_name" VARCHAR(200), "family_name" VARCHAR(200), "name" VARCHAR(400), "locale" VARCHAR(35), "attributes" TEXT NOT NULL, "status" VARCHAR(16) NOT NULL, "created_at" TIMESTAMP NOT NULL, "updated_at" TIMESTAMP NOT NULL, "last_signin_at" TIMESTAMP)',
    'CREATE UNIQUE INDEX "user_email" ON "user" ("email")',
    'CREATE UNIQUE INDEX "user_phone" ON "user" ("phone")',
    'CREATE UNIQUE INDEX "user_username" ON "user" ("username")',
    'CREATE TABLE "legacy_link" ("id" SERIAL NOT NULL PRIMARY KEY, "user_id" VARCHAR(32) NOT NULL, "connector" VARCHAR(100) NOT NULL, "subject" VARCHAR(255) NOT NULL, "migrated_at" TIMESTAMP NOT NULL, "last_seen_at" TIMESTAMP NOT NULL, FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "legacy_link_user_id" ON "legacy_link" ("user_id")',
    'CREATE UNIQUE INDEX "legacy_link_connector_subject" ON "legacy_link" ("connector", "subject")',
    'CREATE TABLE "password_credential" ("id" SERIAL NOT NULL PRIMARY KEY, "user_id" VARCHAR(32) NOT NULL, "hash" VARCHAR(512) NOT NULL, "source" VARCHAR(120) NOT NULL, "created_at" TIMESTAMP NOT NULL, "updated_at" TIMESTAMP NOT NULL, FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE CASCADE)',
    'CREATE UNIQUE INDEX "password_credential_user_id" ON "password_credential" ("user_id")',
    'CREATE TABLE "oauth_client" ("client_id" VARCHAR(100) NOT NULL PRIMARY KEY, "name" VARCHAR(200) NOT NULL, "secret_hash" VARCHAR(512), "redirect_uris" TEXT NOT NULL, "post_logout_redirect_uris" TEXT NOT NULL, "scopes" TEXT NOT NULL, "journey" VARCHAR(100) NOT NULL, "theme" VARCHAR(100), "settings" TEXT NOT NULL, "source" VARCHAR(16) NOT NULL, "updated_at" TIMESTAMP NOT NULL)',
    'CREATE TABLE "authorization_code" ("code_hash" VARCHAR(64) NOT NULL PRIMARY KEY, "client_id" VARCHAR(100) NOT NULL, "user_id" VARCHAR(32) NOT NULL, "redirect_uri" TEXT NOT NULL, "scope" TEXT NOT NULL, "nonce" VARCHAR(255), "code_challenge" VARCHAR(128), "code_challenge_method" VARCHAR(10), "auth_time" INTEGER NOT NULL, "amr" TEXT NOT NULL, "acr" VARCHAR(100), "session_id" VARCHAR(64), "expires_at" TIMESTAMP NOT NULL, "used_at" TIMESTAMP, FOREIGN KEY ("client_id") REFERENCES "oauth_client" ("client_id") ON DELETE CASCADE, FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "authorization_code_client_id" ON "authorization_code" ("client_id")',
    'CREATE INDEX "authorization_code_user_id" ON "authorization_code" ("user_id")',
    'CREATE TABLE "token" ("access_token_hash" VARCHAR(64) NOT NULL PRIMARY KEY, "refresh_token_hash" VARCHAR(64), "client_id" VARCHAR(100) NOT NULL, "user_id" VARCHAR(32) NOT NULL, "scope" TEXT NOT NULL, "code_hash" VARCHAR(64), "issued_at" TIMESTAMP NOT NULL, "expires_at" TIMESTAMP NOT NULL, "revoked" BOOLEAN NOT NULL, FOREIGN KEY ("client_id") REFERENCES "oauth_client" ("client_id") ON DELETE CASCADE, FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE CASCADE)',
    'CREATE UNIQUE INDEX "token_refresh_token_hash" ON "token" ("refresh_token_hash")',
    'CREATE INDEX "token_client_id" ON "token" ("client_id")',
    'CREATE INDEX "token_user_id" ON "token" ("user_id")',
    'CREATE INDEX "token_code_hash" ON "token" ("code_hash")',
    'CREATE TABLE "signing_key" ("kid" VARCHAR(64) NOT NULL PRIMARY KEY, "alg" VARCHAR(10) NOT NULL, "private_pem" TEXT NOT NULL, "public_jwk" TEXT NOT NULL, "created_at" TIMESTAMP NOT NULL, "active" BOOLEAN NOT NULL, "retired_at" TIMESTAMP)',
    'CREATE TABLE "user_session" ("id_hash" VARCHAR(64) NOT NULL PRIMARY KEY, "user_id" VARCHAR(32) NOT NULL, "created_at" TIMESTAMP NOT NULL, "expires_at" TIMESTAMP NOT NULL, "auth_time" INTEGER NOT NULL, "amr" TEXT NOT NULL, "ended_at" TIMESTAMP, FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "user_session_user_id" ON "user_session" ("user_id")',
    'CREATE TABLE "journey_run" ("id_hash" VARCHAR(64) NOT NULL PRIMARY KEY, "journey" VARCHAR(100) NOT NULL, "step" VARCHAR(100) NOT NULL, "context" TEXT NOT NULL, "client_id" VARCHAR(100), "version" INTEGER NOT NULL, "status" VARCHAR(16) NOT NULL, "created_at" TIMESTAMP NOT NULL, "updated_at" TIMESTAMP NOT NULL, "expires_at" TIMESTAMP NOT NULL)',
    'CREATE INDEX "journey_run_expires_at" ON "journey_run" ("expires_at")',
    'CREATE TABLE "audit_event" ("id" SERIAL NOT NULL PRIMARY KEY, "at" TIMESTAMP NOT NULL, "event" VARCHAR(64) NOT NULL, "user_id" VARCHAR(32), "client_id" VARCHAR(100), "connector" VARCHAR(100), "ip" VARCHAR(45), "details" TEXT NOT NULL)',
    'CREATE INDEX "audit_event_at" ON "audit_event" ("at")',
    'CREATE INDEX "audit_event_event" ON "audit_event" ("event")',
    'CREATE INDEX "audit_event_user_id" ON "audit_event" ("user_id")',
]


def upgrade(db: peewee.Database) -> None:
    statements = SQLITE if isinstance(db, peewee.SqliteDatabase) else POSTGRES
    for statement in statements:
        db.execute_sql(statement)
