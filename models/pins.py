"""Device-bound PINs: a WebAuthn credential that never leaves one device, plus a PIN for it.

Signing in with a PIN needs both: the device's assertion (possession, ``hwk``) and the PIN
(knowledge, ``pin``). The PIN alone is worthless: it is only checked after the device proved it
holds the credential, and it is hashed per credential, so it works on that device only.
"""

from __future__ import annotations

import peewee

from models.base import BaseModel, utcnow
from models.users import User


class PinCredential(BaseModel):
    """One device's PIN. ``failed_attempts`` counts wrong PINs in a row; at the limit the PIN
    is disabled (``disabled_at``) and the user signs in another way."""

    user = peewee.ForeignKeyField(User, backref="pins", on_delete="CASCADE")
    credential_id = peewee.CharField(max_length=1400, unique=True)  # base64url of the raw id
    public_key = peewee.BlobField()  # COSE_Key
    sign_count = peewee.BigIntegerField(default=0)
    pin_hash = peewee.CharField(max_length=512)  # argon2id PHC string
    failed_attempts = peewee.IntegerField(default=0)
    disabled_at = peewee.DateTimeField(null=True)
    name = peewee.CharField(max_length=100, default="PIN")
    created_at = peewee.DateTimeField(default=utcnow)
    last_used_at = peewee.DateTimeField(null=True)


class EnrollmentOffer(BaseModel):
    """What a user said to an offer of a better way to sign in (``kind``: ``passkey``).

    ``declined`` counts "Not now" answers; ``ask_after`` is the user's sign-in count from which
    the offer may be shown again (``None``: never again).
    """

    user = peewee.ForeignKeyField(User, backref="offers", on_delete="CASCADE")
    kind = peewee.CharField(max_length=32)
    declined = peewee.IntegerField(default=0)
    ask_after = peewee.IntegerField(null=True)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("user", "kind"), True),)
