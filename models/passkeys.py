"""Passkeys: WebAuthn credentials a user registered with Ferry (several per user)."""

from __future__ import annotations

import peewee

from models.base import BaseModel, JSONField, utcnow
from models.users import User


class PasskeyCredential(BaseModel):
    """One discoverable WebAuthn credential. ``credential_id`` is its raw id as base64url text."""

    user = peewee.ForeignKeyField(User, backref="passkeys", on_delete="CASCADE")
    credential_id = peewee.CharField(max_length=1400, unique=True)  # ids are at most 1023 bytes
    public_key = peewee.BlobField()  # COSE_Key, as the authenticator produced it
    sign_count = peewee.BigIntegerField(default=0)
    transports = JSONField(default=list)
    name = peewee.CharField(max_length=100, default="Passkey")
    backup_eligible = peewee.BooleanField(default=False)  # multi-device (synced) credential
    backed_up = peewee.BooleanField(default=False)
    created_at = peewee.DateTimeField(default=utcnow)
    last_used_at = peewee.DateTimeField(null=True)
