"""Single-use references that bring a browser back to its run from a redirect IdP.

The reference travels out as OIDC ``state`` or SAML ``RelayState``; only its SHA-256 is stored.
Redeeming it deletes it, so an answer can resume a run once, and only the run it was made for.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from journeys.errors import RunMissing
from journeys.run import Run
from models import JourneyResume, JourneyRun, utcnow


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(run: Run, connector: str, ttl: int) -> str:
    token = secrets.token_urlsafe(32)
    JourneyResume.delete().where(JourneyResume.run == run.model.id_hash).execute()
    JourneyResume.create(reference_hash=_hash(token), run=run.model.id_hash, connector=connector,
                         expires_at=utcnow() + timedelta(seconds=ttl))
    return token


def redeem(token: str | None, connector: str) -> Run:
    """The run ``token`` was made for; the reference is gone afterwards."""
    if not token or not isinstance(token, str) or len(token) > 100:
        raise RunMissing()
    digest = _hash(token)
    row = JourneyResume.get_or_none(JourneyResume.reference_hash == digest)
    if row is None or row.connector != connector or row.expires_at <= utcnow():
        raise RunMissing()
    if not JourneyResume.delete().where(JourneyResume.reference_hash == digest).execute():
        raise RunMissing()  # another request redeemed it first
    model = JourneyRun.get_or_none(JourneyRun.id_hash == row.run_hash)
    if model is None or model.status != "active" or model.expires_at <= utcnow():
        raise RunMissing()
    return Run(model)
