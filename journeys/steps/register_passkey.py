"""``register_passkey``: offer a passkey to the user the run knows (after ``create_user``).

The page explains passkeys in one sentence; "Create a passkey" runs the WebAuthn ceremony in
``static/ferry-webauthn.js`` and posts the browser's answer in the ``credential`` field; "Not
now" skips. Settings: ``optional`` (default true: offer "Not now"). Outcomes: ``registered``,
``skipped``. Without JavaScript (or WebAuthn) only "Not now" works, so nobody is stuck here.
"""

from __future__ import annotations

from flask_babel import gettext as _
from wtforms import HiddenField

import authenticators
from authenticators.passkey import PasskeyRefused
from journeys.errors import JourneyBroken
from journeys.results import Done, Result
from journeys.steps.base import Step, StepForm, StepSettings
from security.audit import record


class RegisterPasskeySettings(StepSettings):
    optional: bool = True


class PasskeyForm(StepForm):
    """The browser's WebAuthn answer as JSON, filled in by ``ferry-webauthn.js``."""

    credential = HiddenField()


class RegisterPasskeyStep(Step):
    type = "register_passkey"
    Settings = RegisterPasskeySettings
    settings: RegisterPasskeySettings
    outcomes = ("registered", "skipped")

    def enter(self, run) -> Result:
        user = run.user
        if user is None:
            raise JourneyBroken(f"{self.journey}.{self.name}: reached without a user")
        options = authenticators.get("passkey").registration_options(run.context, user)
        return self.render(run, PasskeyForm(formdata=None), options=options,
                           optional=self.settings.optional)

    def submit(self, run, form_data) -> Result:
        form = PasskeyForm(formdata=form_data)
        if not form.validate():
            return self.enter(run)
        if form_data.get("skip") and self.settings.optional:
            run.context.pop("webauthn", None)
            return Done("skipped")
        user = run.user
        if user is None:
            raise JourneyBroken(f"{self.journey}.{self.name}: reached without a user")
        try:
            passkey = authenticators.get("passkey").register(run.context, user, form.credential.data or "")
        except PasskeyRefused as refused:
            record("passkey.refused", user_id=user.id, client_id=run.client_id,
                   ceremony="registration", reason=refused.reason)
            run.add_notice(_("We couldn't create the passkey. Try again, or choose Not now."))
            return self.enter(run)
        record("passkey.registered", user_id=user.id, client_id=run.client_id,
               credential=passkey.credential_id)
        return Done("registered")
