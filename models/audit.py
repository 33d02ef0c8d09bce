"""Append-only record of what happened, for operators and the migration dashboard."""

from __future__ import annotations

import peewee

from models.base import BaseModel, JSONField, utcnow


class AuditEvent(BaseModel):
    """``event`` is a dotted name (``signin.succeeded``, ``legacy.unavailable``...)."""

    at = peewee.DateTimeField(default=utcnow, index=True)
    event = peewee.CharField(max_length=64, index=True)
    user_id = peewee.CharField(max_length=32, null=True, index=True)
    client_id = peewee.CharField(max_length=100, null=True)
    connector = peewee.CharField(max_length=100, null=True)
    ip = peewee.CharField(max_length=45, null=True)
    details = JSONField(default=dict)  # never a password, code, token or assertion
