"""The way back from a redirect IdP: single-use references out, a browser-bound verdict back.

The reference travels out as OIDC ``state`` or SAML ``RelayState``; only its SHA-256 is stored.
Redeeming it deletes it, so an answer can resume a run once, and only the run it was made for.

The reference proves which run an answer is for, not which browser is asking: whoever sends a
victim to the IdP with their own ``state`` would otherwise pick the victim's identity up in
their own run. So the verdict the callback records is handed to the browser that carried the
answer back, as a one-time secret (:func:`hand_back`; only its hash stays in the run), and the
run uses it only in a request that holds both the run and that secret (:func:`claim`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from journeys.errors import RunMissing
from journeys.run import Run
from models import JourneyResume, JourneyRun, utcnow
from security.audit import record

#: Context keys: the verdict a redirect step recorded, and the hash of its one-time secret.
VERDICT = "federation_result"
ANSWER = "federation_answer"


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


def hand_back(run: Run) -> str:
    """A one-time secret for the browser that brought the IdP's answer to ``run``."""
    secret = secrets.token_urlsafe(32)
    run.context[ANSWER] = _hash(secret)
    return secret


def claim(run: Run, secret: str | None) -> None:
    """Let a verdict waiting in ``run`` through only if this request carries its secret.

    Without it (another browser holds the run: the answer came back elsewhere) the verdict
    becomes a rejection, audited, and the secret is spent either way: one try.
    """
    expected = run.context.pop(ANSWER, None)
    verdict = run.context.get(VERDICT)
    if verdict is None:
        return
    if (isinstance(expected, str) and isinstance(secret, str) and len(secret) <= 100
            and hmac.compare_digest(_hash(secret), expected)):
        return
    connector = verdict.get("connector") if isinstance(verdict, dict) else None
    run.context[VERDICT] = {"kind": "rejected", "connector": connector}
    record("federation.rejected", client_id=run.client_id, connector=connector,
           reason="the answer was carried back by another browser")
