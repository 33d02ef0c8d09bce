"""Legacy identities whose local user an operator deleted: not migrated again."""

from __future__ import annotations

import peewee

from models.base import BaseModel, utcnow


class LegacyTombstone(BaseModel):
    """``(connector, subject)`` of a deleted user: a later sign-in through that legacy account
    creates nobody (the operator may delete the tombstone to allow it again)."""

    connector = peewee.CharField(max_length=100)
    subject = peewee.CharField(max_length=255)
    deleted_at = peewee.DateTimeField(default=utcnow)
    deleted_by = peewee.CharField(max_length=320)

    class Meta:
        indexes = ((("connector", "subject"), True),)
