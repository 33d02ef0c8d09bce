"""Deleting what has served its purpose: expired journey runs, spent codes, ended sessions.

Run ``flask --app app db purge`` from cron (any one server); it is safe to run concurrently.
Redeemed codes are kept for a day after expiry so a late replay is still recognised as one.
"""

from __future__ import annotations

from datetime import timedelta

from models.base import utcnow
from models.journeys import JourneyRun
from models.oauth import AuthorizationCode, Token, UserSession

CODE_GRACE = timedelta(days=1)


def purge() -> dict[str, int]:
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
    }
