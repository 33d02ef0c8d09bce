"""What Ferry as an OpenID Provider stores: clients, codes, tokens, signing keys, sessions."""

from __future__ import annotations

import peewee

from models.base import BaseModel, JSONField, utcnow
from models.users import User


class OAuthClient(BaseModel):
    """A registered app. Apps from the configuration file are kept in step at start-up."""

    client_id = peewee.CharField(primary_key=True, max_length=100)
    name = peewee.CharField(max_length=200)
    secret_hash = peewee.CharField(max_length=512, null=True)  # None: a public client (PKCE)
    redirect_uris = JSONField(default=list)
    post_logout_redirect_uris = JSONField(default=list)
    scopes = JSONField(default=list)
    journey = peewee.CharField(max_length=100)
    theme = peewee.CharField(max_length=100, null=True)
    settings = JSONField(default=dict)  # token lifetimes and other per-app overrides
    source = peewee.CharField(max_length=16, default="config")  # config | admin
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "oauth_client"


class AuthorizationCode(BaseModel):
    """A one-time code; stored hashed, deleted when redeemed, refused when expired."""

    code_hash = peewee.CharField(primary_key=True, max_length=64)
    client = peewee.ForeignKeyField(OAuthClient, on_delete="CASCADE")
    user = peewee.ForeignKeyField(User, on_delete="CASCADE")
    redirect_uri = peewee.TextField()
    scope = peewee.TextField(default="")
    nonce = peewee.CharField(max_length=255, null=True)
    code_challenge = peewee.CharField(max_length=128, null=True)
    code_challenge_method = peewee.CharField(max_length=10, null=True)
    auth_time = peewee.IntegerField()
    amr = JSONField(default=list)
    acr = peewee.CharField(max_length=100, null=True)
    session_id = peewee.CharField(max_length=64, null=True, index=True)
    expires_at = peewee.DateTimeField()
    claims = JSONField(null=True)  # what the code carries beyond its columns (acr asked, sid...)
    used_at = peewee.DateTimeField(null=True)  # set when redeemed; a second use is a replay

    class Meta:
        # A nonce is used once per app (migration 11): the code's INSERT refuses a replay.
        indexes = ((("client", "nonce"), True),)


class Token(BaseModel):
    """An access token (hashed) with its optional refresh token (hashed)."""

    access_token_hash = peewee.CharField(primary_key=True, max_length=64)
    refresh_token_hash = peewee.CharField(max_length=64, null=True, unique=True)
    client = peewee.ForeignKeyField(OAuthClient, on_delete="CASCADE")
    user = peewee.ForeignKeyField(User, on_delete="CASCADE")
    scope = peewee.TextField(default="")
    code_hash = peewee.CharField(max_length=64, null=True, index=True)  # revoked on code replay
    issued_at = peewee.DateTimeField(default=utcnow)
    expires_at = peewee.DateTimeField()
    revoked = peewee.BooleanField(default=False)
    session_id = peewee.CharField(max_length=64, null=True, index=True)  # dies with the session
    refresh_family = peewee.CharField(max_length=64, null=True, index=True)


class SigningKey(BaseModel):
    """An asymmetric key for ID tokens. The newest active one signs; all unretired ones verify."""

    kid = peewee.CharField(primary_key=True, max_length=64)
    alg = peewee.CharField(max_length=10)
    private_pem = peewee.TextField()
    public_jwk = JSONField()
    created_at = peewee.DateTimeField(default=utcnow)
    active = peewee.BooleanField(default=True)
    retired_at = peewee.DateTimeField(null=True)


class UserSession(BaseModel):
    """A Ferry sign-in session (for single sign-on and logout); its id lives in the cookie."""

    id_hash = peewee.CharField(primary_key=True, max_length=64)
    user = peewee.ForeignKeyField(User, on_delete="CASCADE")
    created_at = peewee.DateTimeField(default=utcnow)
    expires_at = peewee.DateTimeField()
    auth_time = peewee.IntegerField()
    amr = JSONField(default=list)
    ended_at = peewee.DateTimeField(null=True)
    sid = peewee.CharField(max_length=64, null=True, unique=True)  # the public ``sid`` claim
