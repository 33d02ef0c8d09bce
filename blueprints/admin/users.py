"""Portal section: users. Search by any identifier; a user's profile, legacy links and
migration record, ways in, sessions and refresh tokens (each revocable), disable, delete (with
a tombstone so they are not migrated again, unless the operator allows it), and their trail.

The views parse and redirect; what they do to the user is :mod:`users.admin_ops`. Viewers see
every page; every POST needs the admin role (:func:`operators.sessions.require`).
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from blueprints.admin.audit import shown_details
from blueprints.admin.base import audit_change, bp
from models import User
from operators import sessions as admin_sessions
from operators.sessions import require
from users import admin_ops

#: How a legacy identity proved itself when it was migrated (:func:`admin_ops.migration`).
METHODS = {
    "password": _l("the legacy password"),
    "password+mfa": _l("the legacy password and the legacy IdP's second factor"),
    "code": _l("a one-time code"),
    "federation": _l("a sign-in at the legacy IdP (federation)"),
}


def _user(user_id: str) -> User:
    user = User.get_or_none(User.id == user_id)
    if user is None:
        abort(404)
    return user


def _back(user_id: str):
    return redirect(url_for("admin.users_detail", user_id=user_id), code=303)


@bp.get("/users")
@require()
def users():
    """Search users by any identifier, 50 a page."""
    query = request.args.get("q", "")[:320]
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    found, more = admin_ops.search(query, page)
    return render_template("admin/users.html", users=found, query=query, page=page, more=more,
                           tombstones=admin_ops.tombstones(query))


@bp.get("/users/<user_id>")
@require()
def users_detail(user_id: str):
    """One user's dossier."""
    found = admin_ops.dossier(user_id)
    if found is None:
        abort(404)
    return render_template("admin/user.html", d=found, methods=METHODS, shown_details=shown_details)


def _removed(done: bool, user_id: str, event: str, message: str, **details):
    """The answer to removing one thing of the user: 404 if it was not theirs (or is gone),
    else audited, told, and back to the user's page."""
    if not done:
        abort(404)
    audit_change(event, user_id=user_id, **details)
    flash(message)
    return _back(user_id)


@bp.post("/users/<user_id>/password/revoke")
@require("admin")
def users_revoke_password(user_id: str):
    """Remove the user's password with Ferry."""
    return _removed(admin_ops.revoke_password(_user(user_id)), user_id, "user.password_revoked",
                    _("The password was removed."))


@bp.post("/users/<user_id>/passkeys/<int:passkey_id>/revoke")
@require("admin")
def users_revoke_passkey(user_id: str, passkey_id: int):
    """Remove a passkey of the user."""
    return _removed(admin_ops.revoke_passkey(_user(user_id), passkey_id), user_id,
                    "user.passkey_revoked", _("The passkey was removed."), passkey=passkey_id)


@bp.post("/users/<user_id>/pins/<int:pin_id>/revoke")
@require("admin")
def users_revoke_pin(user_id: str, pin_id: int):
    """Remove a device PIN of the user."""
    return _removed(admin_ops.revoke_pin(_user(user_id), pin_id), user_id, "user.pin_revoked",
                    _("The PIN was removed."), pin=pin_id)


@bp.post("/users/<user_id>/sessions/<sid>/end")
@require("admin")
def users_end_session(user_id: str, sid: str):
    """Sign the user out of one session (its apps are told)."""
    return _removed(admin_ops.end_session(_user(user_id), sid), user_id, "user.session_ended",
                    _("The session was ended; its apps were told."))


@bp.post("/users/<user_id>/refresh/<family>/revoke")
@require("admin")
def users_revoke_refresh(user_id: str, family: str):
    """Revoke one refresh-token family of the user."""
    return _removed(admin_ops.revoke_refresh_family(_user(user_id), family), user_id,
                    "user.refresh_revoked", _("The refresh token was revoked."))


@bp.post("/users/<user_id>/status")
@require("admin")
def users_status(user_id: str):
    """Disable or enable the user."""
    user_row = _user(user_id)
    status = request.form.get("status", "")
    if status not in ("active", "disabled"):
        flash(_("status: choose active or disabled."), "error")
        return _back(user_id)
    before = user_row.status
    ended = admin_ops.set_status(user_row, status)
    audit_change("user.status", before={"status": before}, after={"status": status},
                 user_id=user_id, sessions_ended=ended)
    flash(_("The user is disabled: every session ended and every token was revoked.")
          if status == "disabled" else _("The user can sign in again."))
    return _back(user_id)


@bp.route("/users/<user_id>/delete", methods=["GET", "POST"])
@require()
def users_delete(user_id: str):
    """Delete the user, after a confirmation page (viewers see it, cannot post it)."""
    user_row = _user(user_id)
    if request.method == "POST":
        again = request.form.get("allow_migrating_again") == "on"
        kept = admin_ops.delete(user_row, admin_sessions.current().email, again)
        audit_change("user.deleted", before={"email": user_row.email, "username": user_row.username},
                     user_id=user_id, tombstones=[f"{c}:{s}" for c, s in kept],
                     allow_migrating_again=again)
        flash(_("The user was deleted."))
        return redirect(url_for("admin.users"), code=303)
    found = admin_ops.dossier(user_id)
    return render_template("admin/user_delete.html", user=user_row, links=found.links)


@bp.post("/users/tombstones/<int:tombstone_id>/forget")
@require("admin")
def users_forget_tombstone(tombstone_id: int):
    """Let a deleted user's legacy identity be migrated again."""
    tombstone = admin_ops.forget_tombstone(tombstone_id)
    if tombstone is None:
        abort(404)
    audit_change("user.tombstone_forgotten", connector=tombstone.connector,
                 subject=tombstone.subject)
    flash(_("The next sign-in through %(connector)s as %(subject)s creates a new user.",
            connector=tombstone.connector, subject=tombstone.subject))
    return redirect(url_for("admin.users", q=tombstone.subject), code=303)
