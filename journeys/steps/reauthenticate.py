"""``reauthenticate``: a fresh proof from the signed-in user before a change to their account.

A session alone is not enough to change a password or an e-mail address: whoever finds an
unlocked browser could. The page asks for one proof, whichever the user has: the current
password (counted against the same per-identifier budget as sign-ins), one of their passkeys
(a passkey of anybody else is refused), or a one-time code sent to their e-mail address (the
same code budgets as everywhere). Outcomes: ``proved`` (the proof's ``amr`` is added to the
run) and ``cancelled`` ("Cancel": back to where the journey routes it).
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, PasswordField
from wtforms.validators import DataRequired

import authenticators
from authenticators.passkey import PasskeyRefused
from journeys import run as runs
from journeys.errors import JourneyBroken
from journeys.results import Done, Result
from journeys.steps import _address_code as address_code
from journeys.steps._attempt import password_attempt
from journeys.steps.base import Step, StepForm
from journeys.steps.messages import wrong_password_notice
from journeys.steps.otp_verify import code_form
from models import PasskeyCredential
from security.audit import record

_CODE_SENT = "reauth_code"


class ProofForm(StepForm):
    """The current password, or a passkey's answer (filled in by ``ferry-webauthn.js``)."""

    credential = HiddenField()
    password = PasswordField(_l("Current password"),
                             validators=[DataRequired(_l("Enter your current password."))],
                             render_kw={"autocomplete": "current-password"})


class ReauthenticateStep(Step):
    type = "reauthenticate"
    outcomes = ("proved", "cancelled")
    optional_outcomes = {"cancelled": "proved"}

    def _user(self, run):
        if run.user is None:
            raise JourneyBroken(f"{self.journey}.{self.name}: reached without a user")
        return run.user

    def _page(self, run, form=None, code=None) -> Result:
        user = self._user(run)
        if run.context.get(_CODE_SENT):
            return self.render(run, code or code_form(), phase="code",
                               email=user.email, cancel="cancelled" in self.settings.on)
        has_passkey = PasskeyCredential.select().where(PasskeyCredential.user == user).exists()
        options = (authenticators.get("passkey").authentication_options(run.context)
                   if has_passkey else None)
        return self.render(run, form or ProofForm(formdata=None), phase="proof",
                           has_password=authenticators.get("password").credential(user) is not None,
                           passkey_options=options, email=user.email,
                           cancel="cancelled" in self.settings.on)

    def enter(self, run) -> Result:
        return self._page(run)

    def submit(self, run, form_data) -> Result:
        user = self._user(run)
        if form_data.get("cancel") and "cancelled" in self.settings.on:
            if StepForm(formdata=form_data).validate():
                run.context.pop(_CODE_SENT, None)
                return Done("cancelled")
            return self._page(run)
        if run.context.get(_CODE_SENT):
            return self._check_code(run, user, form_data)
        form = ProofForm(formdata=form_data)
        if form_data.get("code") and user.email:
            return self._send_code(run, user, form_data)
        if form_data.get("credential"):
            return self._passkey(run, user, form_data)
        if not form.validate():
            return self._page(run, form)
        return self._password(run, user, form)

    def _password(self, run, user, form) -> Result:
        identifier = user.email or user.username
        attempt = password_attempt(run, "proved", identifier=identifier, password=form.password.data)
        if isinstance(attempt, Done):  # no identifier to count against: cannot check safely
            return self._page(run, form)
        if not attempt.admitted:
            run.add_notice(attempt.throttled(run).notice)
            return self._page(run)
        password = authenticators.get("password")
        attempt.checked = True
        if not password.verify(password.credential(user), attempt.password):
            record("reauth.failed", user_id=user.id, client_id=run.client_id, method="pwd")
            form.password.errors = [wrong_password_notice()]
            return self._page(run, form)
        attempt.give_back()
        return self._proved(run, user, "pwd")

    def _passkey(self, run, user, form_data) -> Result:
        if not StepForm(formdata=form_data).validate():
            return self._page(run)
        try:
            signed_in = authenticators.get("passkey").authenticate(
                run.context, form_data.get("credential") or "", spend=lambda: runs.save(run))
        except PasskeyRefused as refused:
            record("reauth.failed", user_id=user.id, client_id=run.client_id,
                   method="passkey", reason=refused.reason)
            run.add_notice(_("That passkey didn't work. Try again, or use another way."))
            return self._page(run)
        if signed_in.user.id != user.id:
            record("reauth.failed", user_id=user.id, client_id=run.client_id,
                   method="passkey", reason="another_user")
            run.add_notice(_("That passkey is not one of this account's. Use one of yours."))
            return self._page(run)
        return self._proved(run, user, *signed_in.amr)

    def _send_code(self, run, user, form_data) -> Result:
        if not StepForm(formdata=form_data).validate():
            return self._page(run)
        problem = address_code.send(run, user.email)
        if problem:
            run.add_notice(problem)
            return self._page(run)
        run.context[_CODE_SENT] = True
        record("otp.sent", user_id=user.id, client_id=run.client_id, channel="email",
               purpose="reauthenticate")
        return self._page(run)

    def _check_code(self, run, user, form_data) -> Result:
        checked = address_code.check(run, form_data)
        if checked.dead:
            run.context.pop(_CODE_SENT, None)
            run.add_notice(checked.notice)
            return self._page(run)
        if not checked.ok:
            return self._page(run, code=checked.form)
        run.context.pop(_CODE_SENT, None)
        return self._proved(run, user, "otp")

    def _proved(self, run, user, *amr: str) -> Result:
        run.set_user(user, *amr)
        record("reauth.proved", user_id=user.id, client_id=run.client_id, amr=list(amr))
        return Done("proved")
