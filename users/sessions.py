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

from models import User, UserSession, fast, utcnow

SESSION_KEY = "sid"

_signals = Namespace()
#: Sent with ``record=<the ended UserSession>`` after a session ends (sign-out anywhere, a
#: disabled user). The provider revokes the session's tokens and tells apps (back-channel logout).
session_ended = _signals.signal("ferry.session-ended")
#: Sent with ``user=<User>`` and ``kept=<the UserSession kept, or None>`` after the user's
#: password was reset or changed: the provider revokes every refresh and access token of the
#: user but those of the kept session.
credentials_changed = _signals.signal("ferry.credentials-changed")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in(user: User, amr: list[str]) -> UserSession:
    session.clear()
    token = secrets.token_urlsafe(32)
    now = utcnow()
    record = fast.insert(
        UserSession, id_hash=_hash(token), user=user, created_at=now, auth_time=int(time.time()), amr=amr,
        sid=secrets.token_urlsafe(24),
        expires_at=now + timedelta(seconds=current_app.config["SESSION_LIFETIME"]),
    )
    session[SESSION_KEY] = token
    session.permanent = True
    fast.update(User, {"last_signin_at": now, "signin_count": fast.Increment()}, id=user.id)
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


def end_all(user: User, keep: UserSession | None = None) -> int:
    """End every live session of ``user`` but ``keep`` (disabled, password reset); how many."""
    query = UserSession.select().where(
        (UserSession.user == user.id) & UserSession.ended_at.is_null())
    if keep is not None:
        query = query.where(UserSession.id_hash != keep.id_hash)
    return sum(end(record) for record in list(query))


def secure(user: User, keep: UserSession | None = None) -> int:
    """After a new password: every other session of ``user`` ends and every token not of
    ``keep`` is revoked (whoever knew the old password is out everywhere); how many sessions."""
    ended = end_all(user, keep)
    credentials_changed.send(current_app._get_current_object(), user=user, kept=keep)
    return ended
