"""``register_pin``: the user chooses a PIN for this device (after ``create_user``, or offered
by ``register_passkey``).

The page asks for a PIN twice; "Set PIN" has the device create a non-discoverable WebAuthn
credential (``static/ferry-webauthn.js``) and posts it with the PIN. Ferry keeps the credential
and an argon2id hash of the PIN (:mod:`authenticators.pin`). PINs are 6 to 12 digits, not one
digit repeated (111111) and not a run (123456, 987654). Settings: ``optional`` (default true:
offer "Not now"). Outcomes: ``registered``, ``skipped``.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, PasswordField
from wtforms.validators import DataRequired, EqualTo, ValidationError

import authenticators
from authenticators.passkey import PasskeyRefused
from authenticators.pin import MAX_LENGTH, MIN_LENGTH, pin_pattern, pin_problem
from journeys.errors import JourneyBroken
from journeys.results import Done, Result
from journeys.steps.base import Step, StepForm, StepSettings
from security.audit import record

PIN_PROBLEMS = {
    "digits": _l("Use digits only, like 482915."),
    "length": _l("Use 6 to 12 digits."),
    "repeated": _l("Don't repeat one digit: that PIN is too easy to guess."),
    "sequence": _l("Don't use a run like 123456: that PIN is too easy to guess."),
}

PIN_INPUT = {"inputmode": "numeric", "pattern": "[0-9]*", "minlength": MIN_LENGTH,
             "maxlength": MAX_LENGTH, "required": True}


def _strong_pin(form, field) -> None:
    problem = pin_problem(field.data or "")
    if problem:
        raise ValidationError(PIN_PROBLEMS[problem])


class NewPinForm(StepForm):
    # The browser checks the same rules first (pattern), so a refused PIN costs no device prompt.
    pin = PasswordField(_l("New PIN"), validators=[DataRequired(_l("Choose a PIN.")), _strong_pin],
                        render_kw={**PIN_INPUT, "autocomplete": "new-password",
                                   "pattern": pin_pattern()})
    confirm = PasswordField(
        _l("Type the PIN again"),
        validators=[DataRequired(_l("Type the PIN again.")),
                    EqualTo("pin", message=_l("The two PINs are not the same."))],
        render_kw={**PIN_INPUT, "autocomplete": "new-password"})
    credential = HiddenField()


class RegisterPinSettings(StepSettings):
    optional: bool = True


class RegisterPinStep(Step):
    type = "register_pin"
    Settings = RegisterPinSettings
    settings: RegisterPinSettings
    outcomes = ("registered", "skipped")

    def _user(self, run):
        if run.user is None:
            raise JourneyBroken(f"{self.journey}.{self.name}: reached without a user")
        return run.user

    def enter(self, run) -> Result:
        return self._page(run, NewPinForm(formdata=None))

    def _page(self, run, form: NewPinForm) -> Result:
        options = authenticators.get("pin").registration_options(run.context, self._user(run))
        return self.render(run, form, options=options, optional=self.settings.optional)

    def submit(self, run, form_data) -> Result:
        if form_data.get("skip") and self.settings.optional:
            if not StepForm(formdata=form_data).validate():
                return self.enter(run)
            run.context.pop("webauthn", None)
            return Done("skipped")
        form = NewPinForm(formdata=form_data)
        if not form.validate():
            return self._page(run, form)
        user = self._user(run)
        if not form.credential.data:
            run.add_notice(_("Your device did not answer. Try again, or choose Not now."))
            return self._page(run, NewPinForm(formdata=None))
        try:
            pin = authenticators.get("pin").register(run.context, user, form.credential.data, form.pin.data)
        except PasskeyRefused as refused:
            record("pin.refused", user_id=user.id, client_id=run.client_id,
                   ceremony="registration", reason=refused.reason)
            run.add_notice(
                _("This device would copy its key to your other devices, so a PIN cannot stay "
                  "on this one. Create a passkey instead.")
                if refused.reason == "synced_credential"
                else _("We couldn't set up the PIN on this device. Try again, or choose Not now."))
            return self._page(run, NewPinForm(formdata=None))
        record("pin.registered", user_id=user.id, client_id=run.client_id, credential=pin.credential_id)
        return Done("registered")
