"""Ferry's own sign-in sessions (single sign-on across apps, and logout).

The cookie carries a random session id; the database keeps its hash, the user, the expiry and
how the user authenticated. Signing in always starts from an empty cookie (``session.clear()``)
with a fresh id, so a session id planted before sign-in is worthless afterwards.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import timedelta

from blinker import Namespace
from flask import current_app, g, session

from models import User, UserSession, utcnow

SESSION_KEY = "sid"

_signals = Namespace()
#: Sent with ``record=<the ended UserSession>`` after a session ends (sign-out anywhere, a
#: disabled user). The provider revokes the session's tokens and tells apps (back-channel logout).
session_ended = _signals.signal("ferry.session-ended")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in(user: User, amr: list[str]) -> UserSession:
    session.clear()
    token = secrets.token_urlsafe(32)
    now = utcnow()
    record = UserSession.create(
        id_hash=_hash(token), user=user, created_at=now, auth_time=int(time.time()), amr=amr,
        sid=secrets.token_urlsafe(24),
        expires_at=now + timedelta(seconds=current_app.config["SESSION_LIFETIME"]),
    )
    session[SESSION_KEY] = token
    session.permanent = True
    User.update(last_signin_at=now, signin_count=User.signin_count + 1).where(User.id == user.id).execute()
    g.ferry_session = record
    return record


def by_sid(sid: str | None) -> UserSession | None:
    """The session whose public ``sid`` claim is ``sid``, live or not."""
    if not sid or not isinstance(sid, str) or len(sid) > 64:
        return None
    return UserSession.get_or_none(UserSession.sid == sid)


def current() -> UserSession | None:
    """The live session of this browser, if any."""
    if "ferry_session" in g:
        return g.ferry_session
    token = session.get(SESSION_KEY)
    record = None
    if isinstance(token, str):
        record = (
            UserSession.select(UserSession, User).join(User)
            .where(
                (UserSession.id_hash == _hash(token))
                & UserSession.ended_at.is_null()
                & (UserSession.expires_at > utcnow())
                & (User.status == "active")
            )
            .first()
        )
    g.ferry_session = record
    return record


def sign_out() -> User | None:
    """End this browser's session (if any) and empty its cookie; returns who was signed in."""
    record = current()
    if record is not None:
        end(record)
    session.clear()
    g.ferry_session = None
    return record.user if record else None


def end(record: UserSession) -> bool:
    """End ``record`` (once: a second call changes nothing) and tell whoever listens."""
    ended = UserSession.update(ended_at=utcnow()).where(
        (UserSession.id_hash == record.id_hash) & UserSession.ended_at.is_null()).execute()
    if ended:
        session_ended.send(current_app._get_current_object(), record=record)
    return bool(ended)


def end_all(user: User) -> int:
    """End every live session of ``user`` (disabled, password reset elsewhere); how many."""
    live = list(UserSession.select().where(
        (UserSession.user == user.id) & UserSession.ended_at.is_null()))
    return sum(end(record) for record in live)
