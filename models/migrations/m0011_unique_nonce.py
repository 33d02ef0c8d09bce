"""A nonce is used once per app: a unique index on ``authorization_code (client_id, nonce)``.

It replaces the lookup every authorization request made (OIDC Core 15.5.2, replay): the code's
INSERT is refused instead. Codes without a nonce (NULL) are not constrained. An older database
can hold duplicates from two requests that raced past the old lookup; every such code but the
newest loses its nonce first (all are long redeemed or expired: codes live seconds).
"""

from __future__ import annotations

import peewee

VERSION = 11

_FORGET_DUPLICATES = (
    'UPDATE "authorization_code" SET "nonce" = NULL WHERE "nonce" IS NOT NULL AND EXISTS ('
    'SELECT 1 FROM "authorization_code" AS "later" WHERE "later"."client_id" = "authorization_code"."client_id"'
    ' AND "later"."nonce" = "authorization_code"."nonce"'
    ' AND ("later"."expires_at" > "authorization_code"."expires_at"'
    ' OR ("later"."expires_at" = "authorization_code"."expires_at"'
    ' AND "later"."code_hash" > "authorization_code"."code_hash")))'
)
_INDEX = ('CREATE UNIQUE INDEX "authorization_code_client_id_nonce" '
          'ON "authorization_code" ("client_id", "nonce")')


def upgrade(db: peewee.Database) -> None:
    db.execute_sql(_FORGET_DUPLICATES)
    db.execute_sql(_INDEX)
