"""Server-side state of a journey in progress; only its random id travels in the session."""

from __future__ import annotations

import peewee

from models.base import BaseModel, JSONField, utcnow


class JourneyRun(BaseModel):
    """One walk through a journey. ``id_hash`` is the SHA-256 of the id kept in the session."""

    id_hash = peewee.CharField(primary_key=True, max_length=64)
    journey = peewee.CharField(max_length=100)
    step = peewee.CharField(max_length=100)
    context = JSONField(default=dict)
    client_id = peewee.CharField(max_length=100, null=True)
    version = peewee.IntegerField(default=0)  # bumped on every save; a stale form is detected
    status = peewee.CharField(max_length=16, default="active")  # active | finished | rejected
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)
    expires_at = peewee.DateTimeField(index=True)


class JourneyResume(BaseModel):
    """A single-use reference that brings a browser back to its run from a redirect IdP.

    The way back from a SAML IdP is a cross-site POST that carries no SameSite=Lax cookie, so
    the run is found by this reference (sent out as OIDC ``state`` or SAML ``RelayState``).
    """

    reference_hash = peewee.CharField(primary_key=True, max_length=64)
    run = peewee.ForeignKeyField(JourneyRun, on_delete="CASCADE", column_name="run_hash")
    connector = peewee.CharField(max_length=100)
    expires_at = peewee.DateTimeField(index=True)
