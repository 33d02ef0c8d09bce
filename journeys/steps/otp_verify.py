"""``otp_verify``: ask for the one-time code ``otp_send`` sent.

Outcomes: ``success`` (a local user: ``run.set_user(user, "otp")``); ``migrate`` (a user found
by ``otp_send``'s ``lookup_connector``: ``context["external_identity"]`` is set with the e-mail
marked verified, route it to ``create_user``; unrouted it takes ``failure``'s route);
``failure`` (5 wrong codes: the code is dead, the user starts again); ``resend`` (the user asked
for a new code: route it back to ``otp_send``, whose counters still hold).
"""

from __future__ import annotations

import copy

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import DataRequired, Regexp

import authenticators
import connectors
from journeys.results import Done, Result
from journeys.steps.base import Step, StepForm
from models import User
from security.audit import record


def _squeeze(value):
    # "123 456" and "123-456" are how people copy codes; the digits are what counts.
    return value.replace(" ", "").replace("-", "").strip() if isinstance(value, str) else value


class CodeForm(StepForm):
    code = StringField(
        _l("Code"),
        validators=[DataRequired(_l("Enter the code.")),
                    Regexp(r"^[0-9]{6}\Z", message=_l("The code is 6 digits, like 123456."))],
        filters=[_squeeze],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "maxlength": 20},
    )


ERRORS = {
    "wrong": _l("That code is not right. Check it and try again."),
    "expired": _l("That code has expired. Send a new code."),
    "used": _l("That code has already been used. Send a new code."),
    "missing": _l("There is no code to check yet. Send a new code."),
}


def _verified(identity: dict) -> dict:
    """The legacy identity with the e-mail the code reached marked verified.

    The flag is written where the connector's ``mapping`` reads ``email_verified`` from
    (``email_verified`` by default), so ``create_user`` stores it like any other claim.
    """
    spec = connectors.get(identity["connector"]).mapping.get("email_verified", "email_verified")
    path = spec.split("|")[0].split(".") if not spec.startswith("=") else ["email_verified"]
    claims = copy.deepcopy(identity.get("claims") or {})
    target = claims
    for part in path[:-1]:
        if not isinstance(target.get(part), dict):
            target[part] = {}
        target = target[part]
    target[path[-1]] = True
    return {**identity, "claims": claims}


class OtpVerifyStep(Step):
    type = "otp_verify"
    outcomes = ("success", "migrate", "failure", "resend")
    optional_outcomes = {"migrate": "failure"}

    def enter(self, run) -> Result:
        return self.render(run, CodeForm(formdata=None), hint=self.hint(run))

    def hint(self, run) -> str:
        # The same words whether or not the account exists.
        return _("If an account exists for %(email)s, we sent a code to it. It works for 10 "
                 "minutes.", email=run.context.get("identifier", ""))

    def submit(self, run, form_data) -> Result:
        if form_data.get("resend"):
            if not StepForm(formdata=form_data).validate():
                return self.enter(run)
            return Done("resend")
        form = CodeForm(formdata=form_data)
        if not form.validate():
            return self.render(run, form, hint=self.hint(run))
        otp = authenticators.get("otp")
        verdict = otp.verify(run.model.id_hash, form.code.data)
        if verdict == "dead":
            otp.discard(run.model.id_hash)
            run.context.pop("otp", None)
            record("otp.dead", client_id=run.client_id)
            return Done("failure", _("Too many wrong codes. Please start again."))
        if verdict != "ok":
            if verdict == "wrong":
                record("otp.failed", client_id=run.client_id)
            form.code.errors = [ERRORS[verdict]]
            return self.render(run, form, hint=self.hint(run))
        pending = run.context.pop("otp", None) or {}
        return self._proved(run, pending)

    def _proved(self, run, pending: dict) -> Result:
        if "identity" in pending:
            run.context["external_identity"] = _verified(pending["identity"])
            run.context["legacy_amr"] = ["otp"]
            run.context["email_proved"] = True  # create_user marks it verified whatever the mapping
            record("otp.verified", client_id=run.client_id,
                   connector=pending["identity"]["connector"])
            return Done("migrate")
        user = User.get_or_none(User.id == pending.get("user_id"))
        if user is None or user.status != "active":
            # Cannot happen for a code that was really sent; treat it as a dead end.
            return Done("failure", _("Please start again."))
        run.set_user(user, "otp")
        record("signin.otp", user_id=user.id, client_id=run.client_id)
        return Done("success")
