"""``passkey_login``: usernameless sign-in with a passkey.

"Sign in with a passkey" runs ``navigator.credentials.get`` with no allowed credentials (the
browser offers the passkeys it holds for Ferry); the answer names its user. Outcomes:
``success`` (the run knows the user; ``amr`` from :class:`authenticators.passkey.PasskeySignIn`),
``failure`` (refused: wrong origin, replayed or expired challenge, unknown credential, counter
regression...; told with one message, the reason goes to the audit log); ``other`` (the user
chose "Sign in another way": route it to a ``switch`` step; the button shows only when routed).
"""

from __future__ import annotations

from flask_babel import gettext as _

import authenticators
from authenticators.passkey import PasskeyRefused
from journeys import run as runs
from journeys.results import Done, Result
from journeys.steps.base import Step
from journeys.steps.register_passkey import PasskeyForm
from security.audit import record


def sign_in_with_passkey(run, answer: str) -> bool:
    """Verify a passkey answer for ``run``; on success the run knows its user. Audited."""
    try:
        signed_in = authenticators.get("passkey").authenticate(
            run.context, answer, spend=lambda: runs.save(run))
    except PasskeyRefused as refused:
        record("signin.failed", client_id=run.client_id, reason=f"passkey_{refused.reason}")
        return False
    run.set_user(signed_in.user, *signed_in.amr)
    record("signin.passkey", user_id=signed_in.user.id, client_id=run.client_id,
           credential=signed_in.credential.credential_id)
    return True


class PasskeyLoginStep(Step):
    type = "passkey_login"
    outcomes = ("success", "failure", "other")
    optional_outcomes = {"other": "failure"}

    def enter(self, run) -> Result:
        options = authenticators.get("passkey").authentication_options(run.context)
        return self.render(run, PasskeyForm(formdata=None), options=options,
                           other="other" in self.settings.on)

    def submit(self, run, form_data) -> Result:
        form = PasskeyForm(formdata=form_data)
        if not form.validate():
            return self.enter(run)
        if form_data.get("other") and "other" in self.settings.on:
            run.context.pop("webauthn", None)
            return Done("other")
        if not sign_in_with_passkey(run, form.credential.data or ""):
            return Done("failure", _("That passkey didn't work. Try again."))
        return Done("success")
