"""Portal section: signing in, with a password and then a passkey (both, always).

1. ``/admin/login``: e-mail address and password (:func:`operators.accounts.attempt_password`:
   counted per address and per client IP before the check, like end users' passwords; an
   unknown address, a disabled admin and a wrong password read the same and cost the same one
   hash check). Form posts are also limited per IP (``signin_rate_limit``), as on ``/login``.
2. ``/admin/login/passkey``: one of this admin's passkeys; an admin without one yet (just made
   with ``ferry admin create``, or after ``ferry admin reset-passkeys``) enrols one here first.
   Only then does the portal session start (a new cookie and a new session id: no fixation).

Between the two, the portal's cookie holds only who passed the password, when, and where to go
after; it is good for :data:`PENDING_FOR` seconds. ``next`` is only ever a path of the portal.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import TooManyRequests

from authenticators.passkey import PasskeyRefused
from blueprints.admin.base import bp
from journeys.steps.messages import throttled_notice
from models import AdminAccount
from operators import accounts, passkeys, sessions
from security import limiter
from security.audit import record

_PENDING = "admin_pending"
#: Seconds from the right password to the passkey.
PENDING_FOR = 300
_SIGN_IN_ENDPOINTS = ("admin.login", "admin.login_passkey")


def _rate_limit() -> str:
    return current_app.config["SIGNIN_RATE_LIMIT"]


def safe_next(value: str | None) -> str:
    """``value`` if it is a path of the portal (``/admin`` or under ``/admin/``), else the
    overview: never another site, another part of Ferry, or the sign-in pages again."""
    home = url_for("admin.home")
    if not value or len(value) > 2000 or "\\" in value or "//" in value:
        return home
    if any(ord(char) < 33 or ord(char) == 127 for char in value):
        return home
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not (parts.path == "/admin" or parts.path.startswith("/admin/")):
        return home
    if parts.path.startswith(url_for("admin.login")) or "/../" in parts.path + "/" or "%" in parts.path:
        return home
    return value


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_rate_limit, methods=["POST"])
def login():
    """The e-mail address and password."""
    next_path = request.values.get("next", "")
    if request.method == "GET" and sessions.current() is not None:
        return redirect(safe_next(next_path), code=303)
    email = request.form.get("email", "").strip()
    if request.method == "GET":
        return render_template("admin/login.html", error=None, email="", next=next_path)
    outcome = accounts.attempt_password(email, request.form.get("password", ""), request.remote_addr)
    if outcome.admin is None:
        if outcome.reason == "throttled":
            record("admin.signin_throttled")
            error, status = throttled_notice(outcome.retry_after), 429
        else:
            record("admin.signin_failed", admin=outcome.account, reason=outcome.reason)
            error, status = _("That e-mail address and password don't match."), 401
        return render_template("admin/login.html", error=error, email=email, next=next_path), status
    sessions.end()  # nothing from before the password survives (nor an earlier admin's session)
    session[_PENDING] = {"admin": outcome.admin.id, "at": int(time.time()), "next": safe_next(next_path)}
    return redirect(url_for("admin.login_passkey"), code=303)


def _pending_admin() -> AdminAccount | None:
    pending = session.get(_PENDING)
    if not isinstance(pending, dict) or not isinstance(pending.get("at"), int) \
            or time.time() - pending["at"] > PENDING_FOR:
        return None
    admin = AdminAccount.get_or_none(AdminAccount.id == pending.get("admin"))
    return admin if admin is not None and admin.disabled_at is None else None


@bp.route("/login/passkey", methods=["GET", "POST"])
@limiter.limit(_rate_limit, methods=["POST"])
def login_passkey():
    """The passkey, or enrolling the first one."""
    admin = _pending_admin()
    if admin is None:
        session.pop(_PENDING, None)
        flash(_("Please sign in again: enter your e-mail address and password."), "error")
        return redirect(url_for("admin.login"), code=303)
    enrol = not passkeys.has_passkey(admin)
    if request.method == "GET":
        options = (passkeys.registration_options(session, admin) if enrol
                   else passkeys.authentication_options(session, admin))
        return render_template("admin/passkey.html", enrol=enrol, options=options, email=admin.email)
    try:
        if enrol:
            passkeys.register(session, admin, request.form.get("credential", ""))
            record("admin.passkey_registered", admin=admin.email)
        else:
            passkeys.authenticate(session, admin, request.form.get("credential", ""))
    except PasskeyRefused as refused:
        record("admin.signin_failed", admin=admin.email, reason=f"passkey_{refused.reason}")
        flash(_("That passkey was not accepted. Try again, with the passkey of this account."), "error")
        return redirect(url_for("admin.login_passkey"), code=303)
    next_path = session[_PENDING].get("next")
    sessions.start(admin)  # empties the cookie first: a new session id
    record("admin.signin", admin=admin.email, role=admin.role)
    return redirect(safe_next(next_path), code=303)


@bp.post("/logout")
def logout():
    """End the portal session (a POST with the portal's CSRF token)."""
    admin = sessions.current()
    sessions.end()
    if admin is not None:
        record("admin.signout", admin=admin.email)
    flash(_("You are signed out of the admin portal."), "status")
    return redirect(url_for("admin.login"), code=303)


@bp.errorhandler(CSRFError)
def _form_expired(error: CSRFError):
    """A sign-in form without its token (expired, or posted from elsewhere): the sign-in page
    again, saying so; the other portal pages say it in the portal, with the way back to
    their section."""
    if request.endpoint not in _SIGN_IN_ENDPOINTS:
        return render_template("admin/form_expired.html"), 400
    message = _("This form expired or came from another page, so it was not used. "
                "Enter your e-mail address and password again.")
    return render_template("admin/login.html", error=message, email="", next=""), 400


@bp.errorhandler(TooManyRequests)
def _too_many(error: TooManyRequests):
    """Too many sign-in posts from one IP (``signin_rate_limit``): the sign-in page, saying so."""
    if request.endpoint not in _SIGN_IN_ENDPOINTS:
        return render_template("errors/http.html", error=error), 429
    message = _("Too many attempts from your network. Wait a minute, then try again.")
    return render_template("admin/login.html", error=message, email="", next=""), 429
