"""Deleting what has served its purpose: expired journey runs, spent codes, ended sessions,
dead refresh tokens, expired client assertions, old back-channel logout notices, and audit
events and legacy-call records older than their retention (``audit_retention_days``,
``legacy_call_retention_days``; 0 keeps them), deleted in batches so no transaction grows with
the table.

Run ``flask --app app db purge`` from cron (any one server); it is safe to run concurrently.
Redeemed codes are kept for a day after expiry so a late replay is still recognised as one.
"""

from __future__ import annotations

from datetime import timedelta

from models.audit import AuditEvent
from models.base import BaseModel, utcnow
from models.grants import ClientAssertion, LogoutDelivery, RefreshToken
from models.journeys import JourneyRun
from models.lifecycle import LegacyCall
from models.oauth import AuthorizationCode, Token, UserSession

CODE_GRACE = timedelta(days=1)
#: How long finished back-channel logout notices stay for ``backchannel status``.
DELIVERED_KEPT, ABANDONED_KEPT = timedelta(days=7), timedelta(days=30)


#: Rows deleted per statement for the history tables (audit, legacy calls).
BATCH = 5000


def purge(audit_days: int = 0, legacy_call_days: int = 0) -> dict[str, int]:
    """Delete what expired; return how many rows per table (see the module)."""
    now = utcnow()
    return {
        "journey_runs": JourneyRun.delete().where(JourneyRun.expires_at <= now).execute(),
        "codes": AuthorizationCode.delete()
        .where(AuthorizationCode.expires_at <= now - CODE_GRACE)
        .execute(),
        "tokens": Token.delete().where(Token.expires_at <= now).execute(),
        "sessions": UserSession.delete()
        .where((UserSession.expires_at <= now) | UserSession.ended_at.is_null(False))
        .execute(),
        # Spent refresh tokens stay until their family expires: a replay must still be seen.
        "refresh_tokens": RefreshToken.delete()
        .where((RefreshToken.absolute_expires_at <= now) | (RefreshToken.revoked_at <= now - CODE_GRACE))
        .execute(),
        "client_assertions": ClientAssertion.delete().where(ClientAssertion.expires_at <= now).execute(),
        "logout_deliveries": LogoutDelivery.delete()
        .where((LogoutDelivery.delivered_at <= now - DELIVERED_KEPT)
               | (LogoutDelivery.abandoned_at <= now - ABANDONED_KEPT))
        .execute(),
        "audit_events": _older(AuditEvent, AuditEvent.at, now, audit_days),
        "legacy_calls": _older(LegacyCall, LegacyCall.at, now, legacy_call_days),
    }


def _older(model: type[BaseModel], at, now, days: int) -> int:
    """Delete ``model`` rows whose ``at`` is more than ``days`` old, a batch at a time."""
    if not days:
        return 0
    cutoff, deleted = now - timedelta(days=days), 0
    while True:
        batch = model.select(model.id).where(at < cutoff).order_by(model.id).limit(BATCH)
        count = model.delete().where(model.id.in_(batch)).execute()
        deleted += count
        if count < BATCH:
            return deleted
