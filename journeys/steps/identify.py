"""``identify``: ask for an e-mail address only (for journeys that prove it another way).

Setting ``purpose`` words the page: ``sign-in`` (the default: "Sign in with a code"),
``reset`` ("Forgot your password?") or ``sign-up`` ("Create an account"). Outcome
``submitted``: the normalised address goes to ``context["identifier"]``.
"""

from __future__ import annotations

from typing import Literal

from flask import current_app
from flask_babel import lazy_gettext as _l
from wtforms import EmailField
from wtforms.validators import DataRequired, Email, Length

from journeys.results import Done, Result
from journeys.steps.base import Step, StepForm, StepSettings
from users.identifiers import normalise


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def build_form(formdata=None) -> StepForm:
    class IdentifyForm(StepForm):
        identifier = EmailField(
            _l("E-mail address"),
            validators=[
                DataRequired(_l("Enter your e-mail address.")),
                Length(max=current_app.config["MAX_FIELD_LENGTH"]),
                Email(_l("Enter an e-mail address like name@example.com."),
                      check_deliverability=False),
            ],
            filters=[_strip],
            render_kw={"autocomplete": "username", "autocapitalize": "none"},
        )

    return IdentifyForm(formdata=formdata)


class IdentifySettings(StepSettings):
    purpose: Literal["sign-in", "reset", "sign-up"] = "sign-in"


class IdentifyStep(Step):
    type = "identify"
    Settings = IdentifySettings
    settings: IdentifySettings
    outcomes = ("submitted",)

    def render(self, run, form=None, **context):
        """The page, worded after ``purpose``."""
        return super().render(run, form, purpose=self.settings.purpose, **context)

    def enter(self, run) -> Result:
        form = build_form()
        form.identifier.data = run.context.get("identifier", "")
        return self.render(run, form)

    def submit(self, run, form_data) -> Result:
        form = build_form(form_data)
        if not form.validate():
            return self.render(run, form)
        run.context["identifier"] = normalise("email", form.identifier.data)
        run.context["identifier_kind"] = "email"
        return Done("submitted")
