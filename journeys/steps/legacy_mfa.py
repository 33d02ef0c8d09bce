"""``legacy_mfa``: finish the legacy IDP's own second factor before migrating the user.

Follows a ``legacy_password`` step that reported ``mfa_required``: a user who had MFA at the
legacy IDP is not migrated on a password alone. Settings: ``max_attempts`` (default 5).
Outcomes: ``success`` (``context["external_identity"]`` set), ``failure`` (too many wrong
codes, or the challenge is gone), ``unavailable``.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pydantic import Field
from wtforms import StringField
from wtforms.validators import DataRequired, Length, Regexp

import connectors
from connectors import AccountBlocked, InvalidCredentials, LegacyUnavailable
from journeys.results import Done, Result
from journeys.steps.base import Step, StepForm, StepSettings
from journeys.steps.legacy_password import BLOCKED_NOTICES
from security.audit import record

FACTOR_HINTS = {
    "totp": _l("Enter the code from your authenticator app."),
    "sms": _l("Enter the code we sent to your phone."),
    "email": _l("Enter the code we sent to your e-mail address."),
}


class LegacyMfaSettings(StepSettings):
    max_attempts: int = Field(5, ge=1, le=10)


class CodeForm(StepForm):
    code = StringField(
        _l("Verification code"),
        validators=[DataRequired(_l("Enter the code.")), Length(max=12),
                    Regexp(r"^\s*[0-9]{4,10}\s*$", message=_l("The code is 4 to 10 digits."))],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class LegacyMfaStep(Step):
    type = "legacy_mfa"
    Settings = LegacyMfaSettings
    settings: LegacyMfaSettings
    outcomes = ("success", "failure", "unavailable")

    def enter(self, run) -> Result:
        pending = run.context.get("legacy_mfa")
        if not pending:
            return Done("failure", _("Please sign in again."))
        return self.render(run, CodeForm(formdata=None), hint=FACTOR_HINTS.get(pending["factor"]))

    def submit(self, run, form_data) -> Result:
        pending = run.context.get("legacy_mfa")
        if not pending:
            return Done("failure", _("Please sign in again."))
        form = CodeForm(formdata=form_data)
        if not form.validate():
            return self.render(run, form, hint=FACTOR_HINTS.get(pending["factor"]))
        connector = connectors.get(pending["connector"])
        try:
            identity = connector.finish_mfa(pending["state"], form.code.data.strip())
        except InvalidCredentials:
            pending["failures"] += 1
            record("legacy.mfa_failed", client_id=run.client_id, connector=connector.name)
            if pending["failures"] >= self.settings.max_attempts:
                run.context.pop("legacy_mfa")
                return Done("failure", _("Too many wrong codes. Please sign in again."))
            form.code.errors = [_("That code is not right. Try again.")]
            return self.render(run, form, hint=FACTOR_HINTS.get(pending["factor"]))
        except LegacyUnavailable as error:
            record("legacy.unavailable", client_id=run.client_id, connector=connector.name,
                   reason=error.reason)
            run.context.pop("legacy_mfa")
            return Done("unavailable")
        except AccountBlocked as blocked:
            record("legacy.blocked", client_id=run.client_id, connector=connector.name,
                   reason=blocked.reason)
            run.context.pop("legacy_mfa")
            return Done("failure", _(BLOCKED_NOTICES[blocked.reason]))
        run.context.pop("legacy_mfa")
        run.context["external_identity"] = identity.to_context()
        run.context["password_hash"] = pending.get("password_hash")
        run.context["legacy_amr"] = ["pwd", "otp", "mfa"]
        record("legacy.verified", client_id=run.client_id, connector=connector.name,
               subject=identity.subject, mfa=True)
        return Done("success")
