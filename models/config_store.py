"""The live configuration store (apps, connectors, journeys, branding, schema made in the admin
portal) and the portal's own accounts. See :mod:`store` and :mod:`admin`."""

from __future__ import annotations

import peewee

from models.base import BaseModel, JSONField, utcnow


class ConfigObject(BaseModel):
    """One object made in the portal or imported: ``kind`` (``apps``, ``connectors``...) and
    ``name``; ``data`` is its table, secrets sealed. ``revision`` counts its saves (optimistic
    concurrency: a save names the revision it started from)."""

    kind = peewee.CharField(max_length=32)
    name = peewee.CharField(max_length=100)
    data = JSONField(default=dict)
    revision = peewee.IntegerField(default=1)
    created_at = peewee.DateTimeField(default=utcnow)
    created_by = peewee.CharField(max_length=320)
    updated_at = peewee.DateTimeField(default=utcnow)
    updated_by = peewee.CharField(max_length=320)

    class Meta:
        indexes = ((("kind", "name"), True),)


class ConfigRevision(BaseModel):
    """Who changed what, when: every save, with the object before and after (secrets never:
    they read ``"(changed)"`` or ``"(kept)"``)."""

    kind = peewee.CharField(max_length=32)
    name = peewee.CharField(max_length=100)
    revision = peewee.IntegerField()
    action = peewee.CharField(max_length=16)  # create | update | delete
    before = JSONField(null=True)
    after = JSONField(null=True)
    actor = peewee.CharField(max_length=320)
    at = peewee.DateTimeField(default=utcnow, index=True)

    class Meta:
        indexes = ((("kind", "name"), False),)


class ConfigState(BaseModel):
    """One row: the store's revision, raised by every save; servers compare it to the one they
    loaded to pick up changes."""

    id = peewee.IntegerField(primary_key=True)
    revision = peewee.IntegerField(default=0)


class AdminAccount(BaseModel):
    """An operator of the admin portal (never an end user): ``viewer`` or ``admin``."""

    email = peewee.CharField(max_length=320, unique=True)
    password_hash = peewee.CharField(max_length=512)
    role = peewee.CharField(max_length=16, default="viewer")
    created_at = peewee.DateTimeField(default=utcnow)
    disabled_at = peewee.DateTimeField(null=True)
    last_signin_at = peewee.DateTimeField(null=True)


class AdminPasskey(BaseModel):
    """An admin's passkey: the portal's sign-in asks for the password and a passkey."""

    admin = peewee.ForeignKeyField(AdminAccount, backref="passkeys", on_delete="CASCADE")
    credential_id = peewee.CharField(max_length=1400, unique=True)  # base64url
    public_key = peewee.TextField()  # base64url COSE key
    sign_count = peewee.IntegerField(default=0)
    name = peewee.CharField(max_length=100, default="Passkey")
    created_at = peewee.DateTimeField(default=utcnow)
    last_used_at = peewee.DateTimeField(null=True)


class AdminSession(BaseModel):
    """A signed-in admin: the cookie holds a random id, this row its hash."""

    id_hash = peewee.CharField(primary_key=True, max_length=64)
    admin = peewee.ForeignKeyField(AdminAccount, on_delete="CASCADE")
    created_at = peewee.DateTimeField(default=utcnow)
    expires_at = peewee.DateTimeField()
    ended_at = peewee.DateTimeField(null=True)
