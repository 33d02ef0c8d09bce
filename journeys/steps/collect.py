"""``collect``: ask for an identifier and a password on one page.

Settings: ``identifier`` (``email``, the default, or ``username``); ``providers``: redirect
connectors offered as "Continue with <provider>" buttons. Outcomes: ``submitted`` (the
normalised identifier goes to ``context["identifier"]``; the password stays in the request
only) and ``federate`` (a provider button: ``context["federate_with"]``; must be routed, to a
``federate`` step, when ``providers`` is set).
"""

from __future__ import annotations

from typing import Any, Literal

from flask import current_app
from flask_babel import lazy_gettext as _l
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, Length

import connectors
from connectors import RedirectConnector
from journeys.results import Done, Result
from journeys.steps.base import Step, StepForm, StepSettings, ValidationContext
from users.identifiers import normalise


class CollectSettings(StepSettings):
    identifier: Literal["email", "username"] = "email"
    providers: list[str] = []


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def build_form(identifier: str, formdata: Any = None) -> StepForm:
    limit = current_app.config["MAX_FIELD_LENGTH"]

    class CollectForm(StepForm):
        password = PasswordField(
            _l("Password"),
            validators=[DataRequired(_l("Enter your password.")), Length(max=limit)],
            render_kw={"autocomplete": "current-password"},
        )

    if identifier == "email":
        CollectForm.identifier = EmailField(
            _l("E-mail address"),
            validators=[
                DataRequired(_l("Enter your e-mail address.")),
                Length(max=limit),
                Email(_l("Enter an e-mail address like name@example.com."), check_deliverability=False),
            ],
            filters=[_strip],
            render_kw={"autocomplete": "username webauthn", "autocapitalize": "none"},
        )
    else:
        CollectForm.identifier = StringField(
            _l("Username"),
            validators=[DataRequired(_l("Enter your username.")), Length(max=limit)],
            filters=[_strip],
            render_kw={"autocomplete": "username", "autocapitalize": "none"},
        )
    return CollectForm(formdata=formdata)


class CollectStep(Step):
    type = "collect"
    Settings = CollectSettings
    settings: CollectSettings
    outcomes = ("submitted", "federate")
    optional_outcomes = {"federate": "submitted"}  # only reachable when providers are offered

    def check(self, context: ValidationContext) -> list[str]:
        problems = []
        for name in self.settings.providers:
            if not isinstance(context.connectors.get(name), RedirectConnector):
                problems.append(f"providers: {name!r} is not a redirect connector (oidc, saml)")
        if self.settings.providers and "federate" not in self.settings.on:
            problems.append("on: outcome 'federate' must be routed when providers are offered")
        return problems

    def providers(self) -> list[tuple[str, str]]:
        found = connectors.instances()
        return [(name, found[name].label) for name in self.settings.providers]

    def enter(self, run) -> Result:
        form = build_form(self.settings.identifier, formdata=None)
        form.identifier.data = run.context.get("identifier", "")
        return self.render(run, form, providers=self.providers())

    def submit(self, run, form_data) -> Result:
        chosen = form_data.get("federate")
        if chosen:
            if chosen not in self.settings.providers or not StepForm(formdata=form_data).validate():
                return self.enter(run)
            run.context["federate_with"] = chosen
            return Done("federate")
        form = build_form(self.settings.identifier, formdata=form_data)
        if not form.validate():
            return self.render(run, form, providers=self.providers())
        run.context["identifier"] = normalise(self.settings.identifier, form.identifier.data)
        run.context["identifier_kind"] = self.settings.identifier
        run.transient["password"] = form.password.data
        run.transient["typed_identifier"] = form.identifier.data
        return Done("submitted")
