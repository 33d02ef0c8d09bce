"""``set_password``: the user the run knows chooses a new password.

Used after a one-time code (forgot password), after a fresh proof on the account page (change
password), and when a legacy password fails Ferry's policy (``password_policy`` step). The page
lists the rules (:mod:`security.password_policy`), which the server checks again; the new
password must differ from the current one. On success the password is stored (``source =
"local"``), every other Ferry session of the user ends and every refresh and access token but
this browser's is revoked (:func:`users.sessions.secure`), and a notice goes to the user's
e-mail address.

Settings: ``purpose`` (``reset``, ``change`` or ``policy``: the page's words and the audit
event); ``offer_passkey`` (a "Use a passkey instead" button: outcome ``passkey``, route it to a
``register_passkey`` step); ``optional`` ("Not now": outcome ``skipped``). Outcomes: ``set``,
``passkey``, ``skipped``.
"""

from __future__ import annotations

from typing import Literal

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import PasswordField
from wtforms.validators import DataRequired, Length

import authenticators
from journeys.errors import JourneyBroken
from journeys.results import Done, Render, Result
from journeys.steps.base import Step, StepForm, StepSettings, ValidationContext
from lifecycle import modes
from security.audit import record
from security.password_policy import policy
from users import credentials, sessions


class SetPasswordSettings(StepSettings):
    purpose: Literal["reset", "change", "policy"] = "reset"
    offer_passkey: bool = False
    optional: bool = False


def password_form(formdata=None) -> StepForm:
    """A new password and its confirmation (password managers: ``new-password``)."""
    return password_form_class()(formdata=formdata)


def password_form_class() -> type[StepForm]:
    """The form class of :func:`password_form`, for steps that add fields of their own."""
    limit = current_app.config["MAX_FIELD_LENGTH"]
    rules = policy()

    class NewPasswordForm(StepForm):
        password = PasswordField(
            _l("New password"),
            validators=[DataRequired(_l("Enter a new password.")), Length(max=limit)],
            render_kw={"autocomplete": "new-password", "minlength": rules.min_length,
                       "maxlength": limit},
        )
        confirm = PasswordField(
            _l("New password again"),
            validators=[DataRequired(_l("Enter the new password once more."))],
            render_kw={"autocomplete": "new-password", "maxlength": limit},
        )

    return NewPasswordForm


def check_new_password(form, user_identifiers: tuple[str | None, ...]) -> bool:
    """Apply the policy and the confirmation to a validated form; errors go on its fields."""
    rules = policy()
    problems = rules.problems(form.password.data, user_identifiers)
    if problems:
        form.password.errors = [rules.message(problem) for problem in problems]
        return False
    if form.password.data != form.confirm.data:
        form.confirm.errors = [_("The two passwords are not the same.")]
        return False
    return True


def notice_text(purpose: str) -> tuple[str, str]:
    """The subject and text of the e-mail telling the user their password changed."""
    subject = _("Your password was changed")
    text = _("The password of your account was just changed, and you were signed out on your "
             "other devices. If this was not you, reset your password now with \"Forgot "
             "password?\" on the sign-in page, and contact support.")
    return subject, text + "\n"


class SetPasswordStep(Step):
    type = "set_password"
    Settings = SetPasswordSettings
    settings: SetPasswordSettings
    outcomes = ("set", "passkey", "skipped")
    optional_outcomes = {"passkey": "set", "skipped": "set"}

    def check(self, context: ValidationContext) -> list[str]:
        problems = []
        if self.settings.offer_passkey and "passkey" not in self.settings.on:
            problems.append("on: outcome 'passkey' must be routed when offer_passkey is on")
        if self.settings.optional and "skipped" not in self.settings.on:
            problems.append("on: outcome 'skipped' must be routed when optional is on")
        return problems

    def _user(self, run):
        user = run.user
        if user is None:
            raise JourneyBroken(f"{self.journey}.{self.name}: reached without a user")
        return user

    def _page(self, run, form) -> Result:
        return self.render(run, form, rules=policy().rules(), purpose=self.settings.purpose,
                           offer_passkey=self.settings.offer_passkey,
                           optional=self.settings.optional)

    def _kept_elsewhere(self, run, user) -> Result | None:
        """A user of a ``sync`` connector changes the password at the legacy side: say where."""
        source = modes.sync_source(user)
        if source is None:
            return None
        record(f"password.{self.settings.purpose}_refused", user_id=user.id,
               client_id=run.client_id, connector=source.name, reason="sync")
        run.finish("rejected")
        return Render("steps/password_elsewhere.html", None,
                      {"step": self, "source": source.label,
                       "url": source.settings.password_change_url})

    def enter(self, run) -> Result:
        user = self._user(run)
        if (refused := self._kept_elsewhere(run, user)) is not None:
            return refused
        return self._page(run, password_form())

    def submit(self, run, form_data) -> Result:
        user = self._user(run)
        if (refused := self._kept_elsewhere(run, user)) is not None:
            return refused
        for choice, outcome in (("passkey", "passkey"), ("skip", "skipped")):
            offered = self.settings.offer_passkey if choice == "passkey" else self.settings.optional
            if form_data.get(choice) and offered:
                if not StepForm(formdata=form_data).validate():
                    return self.enter(run)
                record(f"password.{self.settings.purpose}_{outcome}", user_id=user.id,
                       client_id=run.client_id)
                return Done(outcome)
        form = password_form(form_data)
        if not form.validate() or not check_new_password(form, (user.email, user.username)):
            return self._page(run, form)
        password = authenticators.get("password")
        current = password.credential(user)
        # One argon2 check against the current password; the same cost for every user.
        if password.verify(current, form.password.data):
            form.password.errors = [_("Choose a password you have not used here before.")]
            return self._page(run, form)
        credentials.set_password(user, password.hash(form.password.data))
        kept = sessions.current() if self.settings.purpose == "change" else None
        if kept is not None and kept.user.id != user.id:
            kept = None
        ended = sessions.secure(user, keep=kept)
        run.context.pop("password_policy", None)
        record(f"password.{self.settings.purpose}", user_id=user.id, client_id=run.client_id,
               sessions_ended=ended)
        authenticators.get("otp").notify(user.email, *notice_text(self.settings.purpose))
        return Done("set")
