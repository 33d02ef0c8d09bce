"""The signed-in user's own page (password and e-mail address, passkeys, device PINs, apps they
allowed), and signing out."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length, ValidationError

import skin
from journeys import engine
from provider import consent
from security.audit import record
from users import credentials, sessions

bp = Blueprint("account", __name__)


class SignOutForm(FlaskForm):
    """Only the CSRF token: signing out is a POST so no other site can trigger it."""


def _printable(_form, field) -> None:
    """A name is text one can read: no NUL or other control characters."""
    if field.data and not field.data.isprintable():
        raise ValidationError(_l("control characters"))


class RenameForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100), _printable])


def _signed_in_user():
    current = sessions.current()
    if current is None:
        abort(401)
    return current.user


@bp.get("/")
def home():
    current = sessions.current()
    user = current.user if current else None
    return skin.render(
        "account.html", user=user, form=SignOutForm(),
        passkeys=credentials.passkeys(user) if user else [], rename_form=RenameForm(),
        pins=credentials.pins(user) if user else [],
        consents=consent.grants(user) if user else [],
        has_password=bool(user and credentials.has_password(user)),
        changes=[name for name in ACCOUNT_JOURNEYS if name in engine().journeys],
        forgot_password="forgot-password" in engine().journeys,
    )


@bp.post("/passkeys/<int:passkey_id>/rename")
def rename_passkey(passkey_id: int):
    user = _signed_in_user()
    form = RenameForm()
    if not form.validate_on_submit():
        flash(_("A passkey needs a name of at most 100 characters."))
    elif not credentials.rename_passkey(user, passkey_id, form.name.data):
        abort(404)
    else:
        record("passkey.renamed", user_id=user.id, passkey=passkey_id)
    return redirect(url_for("account.home"), code=303)


@bp.post("/passkeys/<int:passkey_id>/remove")
def remove_passkey(passkey_id: int):
    user = _signed_in_user()
    if not SignOutForm().validate_on_submit():  # the CSRF token only
        abort(400)
    try:
        if not credentials.remove_passkey(user, passkey_id):
            abort(404)
    except credentials.LastSignInMethod:
        flash(_("This passkey is your only way to sign in, so it stays. Add another way first."))
        return redirect(url_for("account.home"), code=303)
    record("passkey.removed", user_id=user.id, passkey=passkey_id)
    flash(_("The passkey was removed."))
    return redirect(url_for("account.home"), code=303)


@bp.post("/passkeys/add")
def add_passkey():
    """Start the ``add-passkey`` journey (a passkey for another device) for the signed-in user."""
    _signed_in_user()
    if not SignOutForm().validate_on_submit():  # the CSRF token only
        abort(400)
    session["run"] = engine().start("add-passkey")
    return redirect(url_for("journey.page"), code=303)


#: Journeys the account page starts for the signed-in user, by button.
ACCOUNT_JOURNEYS = ("change-password", "change-email")


@bp.post("/change/<name>")
def change(name: str):
    """Start ``change-password`` or ``change-email`` (each asks for a fresh proof first)."""
    _signed_in_user()
    if name not in ACCOUNT_JOURNEYS or name not in engine().journeys:
        abort(404)
    if not SignOutForm().validate_on_submit():  # the CSRF token only
        abort(400)
    session["run"] = engine().start(name)
    return redirect(url_for("journey.page"), code=303)


@bp.post("/pins/<int:pin_id>/remove")
def remove_pin(pin_id: int):
    user = _signed_in_user()
    if not SignOutForm().validate_on_submit():  # the CSRF token only
        abort(400)
    try:
        if not credentials.remove_pin(user, pin_id):
            abort(404)
    except credentials.LastSignInMethod:
        flash(_("This PIN is your only way to sign in, so it stays. Add another way first."))
        return redirect(url_for("account.home"), code=303)
    record("pin.removed", user_id=user.id, pin=pin_id)
    flash(_("The PIN was removed from that device."))
    return redirect(url_for("account.home"), code=303)


@bp.post("/consents/<path:client_id>/withdraw")
def withdraw_consent(client_id: str):
    """Forget what the user allowed an app; its tokens for the user die with it."""
    user = _signed_in_user()
    if not SignOutForm().validate_on_submit():  # the CSRF token only
        abort(400)
    if not consent.withdraw(user, client_id):
        abort(404)
    record("consent.withdrawn", user_id=user.id, client_id=client_id)
    flash(_("The app can no longer use your account until you allow it again."))
    return redirect(url_for("account.home"), code=303)


@bp.post("/signout")
def sign_out():
    if SignOutForm().validate_on_submit():
        user = sessions.sign_out()
        if user is not None:
            record("signout", user_id=user.id)
    return redirect(url_for("account.home"), code=303)
