"""``collect``: ask for an identifier and a password on one page, and offer the other ways in.

Settings: ``identifier`` (``email``, the default, or ``username``); ``providers``: redirect
connectors offered as "Continue with <provider>" buttons; ``passkeys``: offer passkeys, both in
the identifier field's autofill (WebAuthn conditional mediation, where the browser has it) and
as a "Sign in with a passkey" button; ``code``: an "E-mail me a code" button; ``pin``: a "Use
my PIN" button. Outcomes: ``submitted`` (the normalised identifier goes to
``context["identifier"]``; the password stays in the request only); ``federate`` (a provider
button: ``context["federate_with"]``); ``passkey`` (a passkey was verified: the run knows the
user); ``code`` and ``pin`` (the identifier is in the context). Each of the last four must be
routed when its setting offers it.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, Length

import authenticators
import connectors
from connectors import RedirectConnector
from journeys.results import Done, Result
from journeys.steps.base import Step, StepForm, StepSettings, ValidationContext
from journeys.steps.passkey_login import sign_in_with_passkey
from users.identifiers import normalise


class CollectSettings(StepSettings):
    identifier: Literal["email", "username"] = "email"
    providers: list[str] = []
    passkeys: bool = False
    code: bool = False
    pin: bool = False


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def build_form(identifier: str, formdata: Any = None) -> StepForm:
    """The collect page's form for ``identifier`` (``email`` or ``username``), bound to ``formdata``."""
    return _form_class(identifier, current_app.config["MAX_FIELD_LENGTH"])(formdata=formdata)


@functools.lru_cache(maxsize=16)
def _form_class(identifier: str, limit: int) -> type[StepForm]:
    """One form class per identifier kind and length limit, made once (its labels and messages
    are lazy: each request renders them in its own language)."""

    class CollectForm(StepForm):
        credential = HiddenField()  # a passkey's answer, from the autofill or the button
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
            render_kw={"autocomplete": "username webauthn", "autocapitalize": "none"},
        )
    return CollectForm


class CollectStep(Step):
    type = "collect"
    Settings = CollectSettings
    settings: CollectSettings
    outcomes = ("submitted", "federate", "passkey", "code", "pin")
    # Each is only reachable when offered; check() insists on a route then.
    optional_outcomes = {"federate": "submitted", "passkey": "submitted", "code": "submitted",
                         "pin": "submitted"}

    def check(self, context: ValidationContext) -> list[str]:
        problems = []
        for name in self.settings.providers:
            if not isinstance(context.connectors.get(name), RedirectConnector):
                problems.append(f"providers: {name!r} is not a redirect connector (oidc, saml)")
        offered = {"federate": bool(self.settings.providers), "passkey": self.settings.passkeys,
                   "code": self.settings.code, "pin": self.settings.pin}
        if self.settings.code and self.settings.identifier != "email":
            problems.append("code: one-time codes need identifier = \"email\"")
        for outcome, on in offered.items():
            if on and outcome not in self.settings.on:
                problems.append(f"on: outcome {outcome!r} must be routed when it is offered")
        return problems

    def providers(self) -> list[tuple[str, str]]:
        found = connectors.instances()
        return [(name, found[name].label) for name in self.settings.providers]

    def _page(self, run, form) -> Result:
        passkey_options = None
        if self.settings.passkeys:
            passkey_options = authenticators.get("passkey").authentication_options(run.context)
        return self.render(run, form, providers=self.providers(), passkey_options=passkey_options,
                           offer_code=self.settings.code, offer_pin=self.settings.pin)

    def enter(self, run) -> Result:
        form = build_form(self.settings.identifier, formdata=None)
        form.identifier.data = run.context.get("identifier", "")
        return self._page(run, form)

    def submit(self, run, form_data) -> Result:
        chosen = form_data.get("federate")
        if chosen:
            if chosen not in self.settings.providers or not StepForm(formdata=form_data).validate():
                return self.enter(run)
            run.context["federate_with"] = chosen
            return Done("federate")
        if form_data.get("credential") and self.settings.passkeys:
            return self._passkey(run, form_data)
        form = build_form(self.settings.identifier, formdata=form_data)
        alternative = form_data.get("alternative")
        if alternative in ("code", "pin") and getattr(self.settings, alternative):
            # Only the identifier matters for these; the password field may be empty.
            form.validate()
            form.password.errors = []
            if any(form.errors.values()):
                return self._page(run, form)
            self._remember(run, form)
            return Done(alternative)
        if not form.validate():
            return self._page(run, form)
        self._remember(run, form)
        run.transient["password"] = form.password.data
        return Done("submitted")

    def _remember(self, run, form) -> None:
        run.context["identifier"] = normalise(self.settings.identifier, form.identifier.data)
        run.context["identifier_kind"] = self.settings.identifier
        run.transient["typed_identifier"] = form.identifier.data

    def _passkey(self, run, form_data) -> Result:
        if not StepForm(formdata=form_data).validate():
            return self.enter(run)
        if not sign_in_with_passkey(run, form_data["credential"]):
            run.add_notice(_("That passkey didn't work. Try again, or use your password."))
            return self.enter(run)
        return Done("passkey")
