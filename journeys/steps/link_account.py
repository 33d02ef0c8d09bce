"""``link_account``: an incoming identity's e-mail belongs to an existing user: prove it first.

Follows ``create_user``'s ``conflict``. The user types the existing account's password; only
then is the new legacy identity linked to it, so nobody takes over an account just by owning an
address at another IdP. Outcomes: ``linked``, ``failure`` (no local password to prove it with,
too many tries, or the user gave up), ``throttled``.

A wrong password counts against the address's ``failed_signins_per_identifier`` budget, the one
every password step spends: the attempt is admitted (counted and checked against the budget in
one step, see :mod:`journeys.steps._attempt`) before the password is checked, and given back
when it was right.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import PasswordField
from wtforms.validators import DataRequired, Length

import authenticators
from connectors import ExternalIdentity
from journeys.results import Done, Result
from journeys.steps._attempt import password_attempt
from journeys.steps.base import Step, StepForm
from models import db
from security.audit import record
from users.directory import find_by_identifier
from users.provisioning import link_identity


class LinkForm(StepForm):
    password = PasswordField(_l("Password of your existing account"),
                             validators=[DataRequired(_l("Enter your password.")), Length(max=256)],
                             render_kw={"autocomplete": "current-password"})


class LinkAccountStep(Step):
    type = "link_account"
    outcomes = ("linked", "failure", "throttled")

    def enter(self, run) -> Result:
        email = run.context.get("conflict_email")
        user = find_by_identifier("email", email) if email else None
        if user is None or authenticators.get("password").credential(user) is None:
            return Done("failure", _("An account with this e-mail address already exists. "
                                     "Sign in with it first, or contact support."))
        return self.render(run, LinkForm(formdata=None), email=email)

    def submit(self, run, form_data) -> Result:
        email = run.context.get("conflict_email")
        form = LinkForm(formdata=form_data)
        if not email or not form.validate():
            return self.enter(run) if not email else self.render(run, form, email=email)
        attempt = password_attempt(run, "failure", identifier=email, password=form.password.data)
        if isinstance(attempt, Done):
            return attempt
        if not attempt.admitted:
            return attempt.throttled(run)
        user = find_by_identifier("email", email)
        password_authenticator = authenticators.get("password")
        attempt.checked = True
        if user is None or not password_authenticator.verify(
                password_authenticator.credential(user), attempt.password):
            form.password.errors = [_("That password is not right.")]  # stays counted
            return self.render(run, form, email=email)
        attempt.give_back()
        identity = ExternalIdentity.from_context(run.context["external_identity"])
        with db.atomic():
            link_identity(user, identity)
        run.context.pop("conflict_email", None)
        run.set_user(user, "pwd", *run.context.pop("legacy_amr", []))
        record("user.linked", user_id=user.id, client_id=run.client_id,
               connector=identity.connector, subject=identity.subject)
        return Done("linked")
