"""One-time sign-in codes: only an HMAC of the code is kept, one row per journey run.

A row belongs to the run that asked for it (``run_hash``), so a code is worthless in any other
run, and it goes when the run is purged. A resend replaces the code but keeps ``failures``:
asking for a new code never buys more guesses.
"""

from __future__ import annotations

import peewee

from models.base import BaseModel
from models.journeys import JourneyRun


class OtpCode(BaseModel):
    run = peewee.ForeignKeyField(JourneyRun, primary_key=True, on_delete="CASCADE",
                                 column_name="run_hash")
    code_hash = peewee.CharField(max_length=64)  # HMAC-SHA256(secret_key, run_hash:code), hex
    failures = peewee.IntegerField(default=0)
    expires_at = peewee.DateTimeField()
    used_at = peewee.DateTimeField(null=True)
