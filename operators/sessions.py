"""A signed-in admin: a random id in the portal's own cookie, its hash in ``admin_session``.

Signing in empties the portal's cookie first (no session fixation) and the session lives
``ADMIN_SESSION_LIFETIME`` seconds (8 hours) at most. :func:`require` guards every portal view:
nobody signed in goes to the portal's sign-in page; a ``viewer`` who posts a change gets a 403
page that says so, and nothing changes.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import timedelta

from flask import abort, g, redirect, request, session, url_for

from models import AdminAccount, AdminSession, utcnow
from operators.accounts import Role

SESSION_KEY = "admin_sid"
ADMIN_SESSION_LIFETIME = 8 * 3600


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(admin: AdminAccount) -> None:
    """Sign ``admin`` in to the portal (after the password and the passkey)."""
    session.clear()
    token = secrets.token_urlsafe(32)
    now = utcnow()
    AdminSession.create(id_hash=_hash(token), admin=admin, created_at=now,
                        expires_at=now + timedelta(seconds=ADMIN_SESSION_LIFETIME))
    AdminAccount.update(last_signin_at=now).where(AdminAccount.id == admin.id).execute()
    session[SESSION_KEY] = token
    g.ferry_admin = admin


def current() -> AdminAccount | None:
    """The admin signed in to the portal in this browser, if any."""
    if "ferry_admin" in g:
        return g.ferry_admin
    token = session.get(SESSION_KEY)
    admin = None
    if isinstance(token, str):
        row = (AdminSession.select(AdminSession, AdminAccount).join(AdminAccount)
               .where((AdminSession.id_hash == _hash(token)) & AdminSession.ended_at.is_null()
                      & (AdminSession.expires_at > utcnow()) & AdminAccount.disabled_at.is_null())
               .first())
        admin = row.admin if row else None
    g.ferry_admin = admin
    return admin


def end() -> None:
    """Sign the portal's session out."""
    token = session.get(SESSION_KEY)
    if isinstance(token, str):
        AdminSession.update(ended_at=utcnow()).where(AdminSession.id_hash == _hash(token)).execute()
    session.clear()
    g.ferry_admin = None


def require(role: Role = "viewer"):
    """Guard a portal view: a signed-in admin, with the ``admin`` role for ``role="admin"``
    (and for every POST, whatever the view says)."""

    def decorate(view):
        @functools.wraps(view)
        def guarded(*args, **kwargs):
            admin = current()
            if admin is None:
                return redirect(url_for("admin.login", next=request.full_path
                                        if request.method == "GET" else None))
            if (role == "admin" or request.method != "GET") and admin.role != "admin":
                abort(403)
            return view(*args, **kwargs)
        return guarded
    return decorate


def end_all(admin: AdminAccount) -> int:
    """End every open session of ``admin`` (disabled, or its passkeys reset); how many."""
    return (AdminSession.update(ended_at=utcnow())
            .where((AdminSession.admin == admin) & AdminSession.ended_at.is_null()).execute())
