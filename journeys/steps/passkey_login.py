"""``passkey_login``: usernameless sign-in with a passkey.

"Sign in with a passkey" runs ``navigator.credentials.get`` with no allowed credentials (the
browser offers the passkeys it holds for Ferry); the answer names its user. Outcomes:
``success`` (the run knows the user; ``amr`` from :class:`authenticators.passkey.PasskeySignIn`),
``failure`` (refused: wrong origin, replayed or expired challenge, unknown credential, counter
regression...; told with one message, the reason goes to the audit log).
"""

from __future__ import annotations

from flask_babel import gettext as _

import authenticators
from authenticators.passkey import PasskeyRefused
from journeys.results import Done, Result
from journeys.steps.base import Step
from journeys.steps.register_passkey import PasskeyForm
from security.audit import record


class PasskeyLoginStep(Step):
    type = "passkey_login"
    outcomes = ("success", "failure")

    def enter(self, run) -> Result:
        options = authenticators.get("passkey").authentication_options(run.context)
        return self.render(run, PasskeyForm(formdata=None), options=options)

    def submit(self, run, form_data) -> Result:
        form = PasskeyForm(formdata=form_data)
        if not form.validate():
            return self.enter(run)
        try:
            signed_in = authenticators.get("passkey").authenticate(run.context, form.credential.data or "")
        except PasskeyRefused as refused:
            record("signin.failed", client_id=run.client_id, reason=f"passkey_{refused.reason}")
            return Done("failure", _("That passkey didn't work. Try again."))
        run.set_user(signed_in.user, *signed_in.amr)
        record("signin.passkey", user_id=signed_in.user.id, client_id=run.client_id,
               credential=signed_in.credential.credential_id)
        return Done("success")
