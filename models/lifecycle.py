"""The migration's lifecycle: who is known at the legacy side (the roster), and how long each
call to a legacy IDP took (for the dashboard's latency figures and their retention)."""

from __future__ import annotations

import peewee

from models.base import BaseModel, JSONField, utcnow


class RosterEntry(BaseModel):
    """A user known at the legacy side of ``connector``, migrated or not.

    Identifiers are stored normalised (see :mod:`users.identifiers`), so an entry is matched to
    a local user by the same keys as lazy migration; each is unique per connector, so an import
    run twice, or an import and a pull, never counts a person twice. ``user_id`` is set once
    the person exists in Ferry (migrated lazily, imported in bulk, or linked).
    """

    connector = peewee.CharField(max_length=100)
    subject = peewee.CharField(max_length=255, null=True)  # the legacy IDP's id, when known
    email = peewee.CharField(max_length=320, null=True)
    username = peewee.CharField(max_length=150, null=True)
    phone = peewee.CharField(max_length=32, null=True)
    attributes = JSONField(default=dict)  # the last known legacy attributes, as imported
    source = peewee.CharField(max_length=200)  # "import:<file>", "pull", "migration"
    user_id = peewee.CharField(max_length=32, null=True, index=True)
    migrated_at = peewee.DateTimeField(null=True, index=True)
    legacy_last_signin_at = peewee.DateTimeField(null=True)  # as the legacy side told, if it did
    added_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = (
            (("connector", "subject"), True),
            (("connector", "email"), True),
            (("connector", "username"), True),
            (("connector", "phone"), True),
        )


class LegacyCall(BaseModel):
    """One guarded call to a legacy IDP: which, what, how it ended and how long it took.

    ``outcome`` is ``answer`` (the IDP answered, yes or no), ``unavailable`` (an outage: timeout,
    error, open breaker) or ``refused`` (Ferry did not call: bulkhead, rate limit, disabled).
    """

    at = peewee.DateTimeField(default=utcnow, index=True)
    connector = peewee.CharField(max_length=100)
    operation = peewee.CharField(max_length=64)
    outcome = peewee.CharField(max_length=16)
    ms = peewee.FloatField()

    class Meta:
        indexes = ((("connector", "at"), False),)
