"""The signed-in user's own page, and signing out of Ferry."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_wtf import FlaskForm

from security.audit import record
from users import sessions

bp = Blueprint("account", __name__)


class SignOutForm(FlaskForm):
    """Only the CSRF token: signing out is a POST so no other site can trigger it."""


@bp.get("/")
def home():
    current = sessions.current()
    return render_template(
        "account.html", user=current.user if current else None, form=SignOutForm()
    )


@bp.post("/signout")
def sign_out():
    if SignOutForm().validate_on_submit():
        user = sessions.sign_out()
        if user is not None:
            record("signout", user_id=user.id)
    return redirect(url_for("account.home"), code=303)
