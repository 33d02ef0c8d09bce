"""Local users, the legacy identities they came from, and their password credentials."""

from __future__ import annotations

import uuid

import peewee
from flask_login import UserMixin

from models.base import BaseModel, JSONField, utcnow


def new_user_id() -> str:
    return uuid.uuid4().hex


class User(UserMixin, BaseModel):
    """A person who signs in with Ferry. ``id`` is the stable, opaque OIDC ``sub``."""

    id = peewee.CharField(primary_key=True, max_length=32, default=new_user_id)
    email = peewee.CharField(max_length=320, null=True, unique=True)  # normalised, see users.identifiers
    email_verified = peewee.BooleanField(default=False)
    phone = peewee.CharField(max_length=32, null=True, unique=True)
    phone_verified = peewee.BooleanField(default=False)
    username = peewee.CharField(max_length=150, null=True, unique=True)
    given_name = peewee.CharField(max_length=200, null=True)
    family_name = peewee.CharField(max_length=200, null=True)
    name = peewee.CharField(max_length=400, null=True)
    locale = peewee.CharField(max_length=35, null=True)
    attributes = JSONField(default=dict)  # operator-declared custom attributes ([schema])
    status = peewee.CharField(max_length=16, default="active")  # active | disabled
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)
    last_signin_at = peewee.DateTimeField(null=True)
    signin_count = peewee.IntegerField(default=0)  # Ferry sign-ins completed (offer policies)


class LegacyLink(BaseModel):
    """Ties a local user to the legacy identity it was migrated from; one per (connector, subject)."""

    user = peewee.ForeignKeyField(User, backref="legacy_links", on_delete="CASCADE")
    connector = peewee.CharField(max_length=100)
    subject = peewee.CharField(max_length=255)
    migrated_at = peewee.DateTimeField(default=utcnow)
    last_seen_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("connector", "subject"), True),)


class PasswordCredential(BaseModel):
    """At most one password per user, as a PHC string (argon2id, or an imported legacy scheme)."""

    user = peewee.ForeignKeyField(User, backref="password", unique=True, on_delete="CASCADE")
    hash = peewee.CharField(max_length=512)
    source = peewee.CharField(max_length=120)  # "legacy:<connector>" or "local"
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)


class UniqueAttribute(BaseModel):
    """The value of a custom attribute the user schema declares ``unique`` (or ``identifier``),
    one row per user and attribute: the unique index makes two users with one value impossible,
    even when two first sign-ins race, and the portal's search finds users by it."""

    user = peewee.ForeignKeyField(User, backref="unique_attributes", on_delete="CASCADE")
    name = peewee.CharField(max_length=63)
    value = peewee.CharField(max_length=320)

    class Meta:
        indexes = ((("name", "value"), True), (("user", "name"), True))
