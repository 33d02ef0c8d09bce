"""``identify``: ask for an e-mail address only (for journeys that prove it another way).

Outcome ``submitted``: the normalised address goes to ``context["identifier"]``.
"""

from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l
from wtforms import EmailField
from wtforms.validators import DataRequired, Email, Length

from journeys.results import Done, Result
from journeys.steps.base import Step, StepForm
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


class IdentifyStep(Step):
    type = "identify"
    outcomes = ("submitted",)

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
