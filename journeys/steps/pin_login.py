"""``pin_login``: sign in with the PIN set on this device, for the identifier already typed.

The page asks for the PIN; "Sign in" has the device sign a challenge for one of the user's PIN
credentials, then posts the signature with the PIN (:mod:`authenticators.pin` checks both).
A device without such a credential cannot answer: the page then says this device has no PIN
and offers another way. Unknown identifiers read the same. Outcomes: ``success``
(``amr`` hwk, pin, mfa); ``other`` (the user chose another way); ``disabled`` (the tenth wrong
PIN in a row turned this PIN off; unrouted it takes ``other``'s route).
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, PasswordField
from wtforms.validators import DataRequired, Regexp

import authenticators
from authenticators.passkey import PasskeyRefused
from authenticators.pin import MAX_LENGTH, MIN_LENGTH, PinWrong
from journeys import run as runs
from journeys.errors import JourneyBroken
from journeys.results import Done, Result
from journeys.steps.base import Step, StepForm
from journeys.steps.register_pin import PIN_INPUT
from security.audit import record
from users.directory import find_by_identifier


class PinForm(StepForm):
    pin = PasswordField(
        _l("PIN"),
        validators=[DataRequired(_l("Enter your PIN.")),
                    Regexp(rf"^[0-9]{{{MIN_LENGTH},{MAX_LENGTH}}}\Z",
                           message=_l("Your PIN is 6 to 12 digits."))],
        render_kw={**PIN_INPUT, "autocomplete": "current-password"})
    credential = HiddenField()


class PinLoginStep(Step):
    type = "pin_login"
    outcomes = ("success", "other", "disabled")
    optional_outcomes = {"disabled": "other"}

    def _identifier(self, run) -> str:
        identifier = run.context.get("identifier")
        if not identifier:
            raise JourneyBroken(f"{self.journey}.{self.name}: no identifier (put collect first)")
        return identifier

    def _user(self, run):
        return find_by_identifier(run.context.get("identifier_kind", "email"), self._identifier(run))

    def enter(self, run) -> Result:
        return self._page(run, PinForm(formdata=None))

    def _page(self, run, form: PinForm) -> Result:
        identifier = self._identifier(run)
        options = authenticators.get("pin").authentication_options(
            run.context, self._user(run), identifier)
        return self.render(run, form, options=options, identifier=identifier)

    def submit(self, run, form_data) -> Result:
        if form_data.get("other"):
            if not StepForm(formdata=form_data).validate():
                return self.enter(run)
            run.context.pop("webauthn", None)
            return Done("other")
        form = PinForm(formdata=form_data)
        if not form.validate():
            return self._page(run, form)
        if not form.credential.data:
            run.add_notice(_("This device did not answer. Try again, or sign in another way."))
            return self._page(run, PinForm(formdata=None))
        user = self._user(run)
        try:
            signed_in = authenticators.get("pin").authenticate(
                run.context, user, form.credential.data, form.pin.data,
                spend=lambda: runs.save(run))
        except PinWrong as wrong:
            record("signin.failed", user_id=user.id if user else None, client_id=run.client_id,
                   reason="pin_wrong")
            if wrong.remaining == 0:
                return Done("disabled", _("That PIN was wrong too many times, so it is now turned "
                                          "off on this device. Please sign in another way."))
            form = PinForm(formdata=None)
            form.pin.errors = [_("That PIN is not right. %(count)d tries left before it is "
                                 "turned off.", count=wrong.remaining)]
            return self._page(run, form)
        except PasskeyRefused as refused:
            record("signin.failed", client_id=run.client_id, reason=f"pin_{refused.reason}")
            if refused.reason == "pin_disabled":
                return Done("disabled", _("The PIN on this device is turned off. Please sign in "
                                          "another way."))
            run.add_notice(_("That didn't work. Try again, or sign in another way."))
            return self._page(run, PinForm(formdata=None))
        run.set_user(signed_in.user, *signed_in.amr)
        record("signin.pin", user_id=signed_in.user.id, client_id=run.client_id,
               credential=signed_in.credential.credential_id)
        return Done("success")
