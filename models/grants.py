"""What apps are granted beyond a code: refresh tokens, remembered consent, spent client
assertions, and back-channel logout notices waiting to be delivered."""

from __future__ import annotations

import peewee

from models.base import BaseModel, JSONField, utcnow
from models.oauth import OAuthClient
from models.users import User


class RefreshToken(BaseModel):
    """One refresh token (hashed). Every use rotates it: the row is marked used and a new row of
    the same ``family`` is made; a used token presented again revokes the whole family."""

    token_hash = peewee.CharField(primary_key=True, max_length=64)
    family = peewee.CharField(max_length=64, index=True)
    client = peewee.ForeignKeyField(OAuthClient, on_delete="CASCADE")
    user = peewee.ForeignKeyField(User, on_delete="CASCADE")
    scope = peewee.TextField(default="")
    session_id = peewee.CharField(max_length=64, null=True, index=True)  # UserSession.id_hash
    auth_time = peewee.IntegerField()
    amr = JSONField(default=list)
    acr = peewee.CharField(max_length=100, null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    idle_expires_at = peewee.DateTimeField()
    absolute_expires_at = peewee.DateTimeField()  # the family's: rotation never extends it
    used_at = peewee.DateTimeField(null=True)
    revoked_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "refresh_token"


class ConsentGrant(BaseModel):
    """The scopes a user allowed an app, remembered until withdrawn on the account page."""

    user = peewee.ForeignKeyField(User, on_delete="CASCADE")
    client = peewee.ForeignKeyField(OAuthClient, on_delete="CASCADE")
    scopes = JSONField(default=list)
    granted_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "consent_grant"
        indexes = ((("user", "client"), True),)


class ClientAssertion(BaseModel):
    """A spent ``jti`` of a client's JWT assertion (RFC 7523): a second use is a replay."""

    client = peewee.ForeignKeyField(OAuthClient, on_delete="CASCADE")
    jti = peewee.CharField(max_length=255)
    expires_at = peewee.DateTimeField()

    class Meta:
        table_name = "client_assertion"
        indexes = ((("client", "jti"), True),)


class LogoutDelivery(BaseModel):
    """A back-channel logout notice for one app, delivered (with retries) off the request path."""

    client = peewee.ForeignKeyField(OAuthClient, on_delete="CASCADE")
    subject = peewee.CharField(max_length=32)  # the user's sub
    sid = peewee.CharField(max_length=64, null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    attempts = peewee.IntegerField(default=0)
    next_attempt_at = peewee.DateTimeField(default=utcnow, index=True)
    claimed_until = peewee.DateTimeField(null=True)  # a server is delivering it until then
    delivered_at = peewee.DateTimeField(null=True)
    abandoned_at = peewee.DateTimeField(null=True)
    last_error = peewee.CharField(max_length=300, null=True)

    class Meta:
        table_name = "logout_delivery"
