"""``change_email``: the signed-in user replaces their e-mail address (after ``reauthenticate``).

The new address is proved first: a one-time code goes to it (the code budgets of every send),
and only the right code replaces the old address, marked verified. Whether the new address
belongs to somebody else is said only then, to whoever holds its code, so the form tells
nobody which addresses have accounts. A notice goes to the old address ("your address was
changed"), so a hijacked session cannot quietly take the account. Outcomes: ``changed`` and
``cancelled``.
"""

from __future__ import annotations

import peewee
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import EmailField
from wtforms.validators import DataRequired, Email, Length

import authenticators
from journeys.errors import JourneyBroken
from journeys.results import Done, Result
from journeys.steps import _address_code as address_code
from journeys.steps.base import Step, StepForm
from journeys.steps.otp_verify import code_form
from models import User, db, utcnow
from security.audit import record
from users.identifiers import normalise

_PENDING = "new_email"


def address_form(formdata=None) -> StepForm:
    """The new e-mail address."""

    class NewAddressForm(StepForm):
        email = EmailField(
            _l("New e-mail address"),
            validators=[DataRequired(_l("Enter your new e-mail address.")),
                        Length(max=current_app.config["MAX_FIELD_LENGTH"]),
                        Email(_l("Enter an e-mail address like name@example.com."),
                              check_deliverability=False)],
            filters=[lambda value: value.strip() if isinstance(value, str) else value],
            render_kw={"autocomplete": "email", "autocapitalize": "none"},
        )

    return NewAddressForm(formdata=formdata)


def notice_text(new: str) -> tuple[str, str]:
    """The subject and text of the e-mail to the old address."""
    return (_("Your e-mail address was changed"),
            _("The e-mail address of your account was just changed to %(email)s. If this was "
              "not you, contact support at once.", email=new) + "\n")


class ChangeEmailStep(Step):
    type = "change_email"
    outcomes = ("changed", "cancelled")
    optional_outcomes = {"cancelled": "changed"}

    def _user(self, run) -> User:
        if run.user is None:
            raise JourneyBroken(f"{self.journey}.{self.name}: reached without a user")
        return run.user

    def _page(self, run, form=None) -> Result:
        pending = run.context.get(_PENDING)
        if pending:
            return self.render(run, form or code_form(), phase="code", email=pending,
                               cancel="cancelled" in self.settings.on)
        return self.render(run, form or address_form(), phase="address",
                           current=self._user(run).email, cancel="cancelled" in self.settings.on)

    def enter(self, run) -> Result:
        self._user(run)
        return self._page(run)

    def submit(self, run, form_data) -> Result:
        user = self._user(run)
        if form_data.get("cancel") and "cancelled" in self.settings.on:
            if StepForm(formdata=form_data).validate():
                run.context.pop(_PENDING, None)
                return Done("cancelled")
            return self._page(run)
        if form_data.get("other"):  # "Use another address" on the code page
            if StepForm(formdata=form_data).validate():
                run.context.pop(_PENDING, None)
            return self._page(run)
        if run.context.get(_PENDING):
            return self._check_code(run, user, form_data)
        form = address_form(form_data)
        if not form.validate():
            return self._page(run, form)
        new = normalise("email", form.email.data)
        if new == user.email:
            form.email.errors = [_("That is already your e-mail address.")]
            return self._page(run, form)
        problem = address_code.send(run, new)
        if problem:
            run.add_notice(problem)
            return self._page(run, form)
        run.context[_PENDING] = new
        record("otp.sent", user_id=user.id, client_id=run.client_id, channel="email",
               purpose="change_email")
        return self._page(run)

    def _check_code(self, run, user, form_data) -> Result:
        checked = address_code.check(run, form_data)
        if checked.dead:
            run.context.pop(_PENDING, None)
            run.add_notice(checked.notice)
            return self._page(run)
        if not checked.ok:
            return self._page(run, checked.form)
        new, old = run.context.pop(_PENDING), user.email
        try:
            with db.atomic():  # a savepoint: the unique e-mail refuses a taken address
                User.update(email=new, email_verified=True, updated_at=utcnow()).where(
                    User.id == user.id).execute()
        except peewee.IntegrityError:
            record("email.change_refused", user_id=user.id, client_id=run.client_id,
                   reason="taken")
            run.add_notice(_("Another account already uses %(email)s, so your address was not "
                             "changed.", email=new))
            return self._page(run)
        user.email, user.email_verified = new, True
        record("email.changed", user_id=user.id, client_id=run.client_id)
        authenticators.get("otp").notify(old, *notice_text(new))
        return Done("changed", _("Your e-mail address is now %(email)s.", email=new))
