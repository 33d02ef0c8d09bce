"""Deleting what has served its purpose: expired journey runs, spent codes, ended sessions,
dead refresh tokens, expired client assertions, old back-channel logout notices.

Run ``flask --app app db purge`` from cron (any one server); it is safe to run concurrently.
Redeemed codes are kept for a day after expiry so a late replay is still recognised as one.
"""

from __future__ import annotations

from datetime import timedelta

from models.base import utcnow
from models.grants import ClientAssertion, LogoutDelivery, RefreshToken
from models.journeys import JourneyRun
from models.oauth import AuthorizationCode, Token, UserSession

CODE_GRACE = timedelta(days=1)
#: How long finished back-channel logout notices stay for ``backchannel status``.
DELIVERED_KEPT, ABANDONED_KEPT = timedelta(days=7), timedelta(days=30)


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
        # Spent refresh tokens stay until their family expires: a replay must still be seen.
        "refresh_tokens": RefreshToken.delete()
        .where((RefreshToken.absolute_expires_at <= now) | (RefreshToken.revoked_at <= now - CODE_GRACE))
        .execute(),
        "client_assertions": ClientAssertion.delete().where(ClientAssertion.expires_at <= now).execute(),
        "logout_deliveries": LogoutDelivery.delete()
        .where((LogoutDelivery.delivered_at <= now - DELIVERED_KEPT)
               | (LogoutDelivery.abandoned_at <= now - ABANDONED_KEPT))
        .execute(),
    }
