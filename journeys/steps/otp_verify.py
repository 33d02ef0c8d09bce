"""``otp_verify``: ask for the one-time code ``otp_send`` sent.

Outcomes: ``success`` (a local user: ``run.set_user(user, "otp")``; a code that went by SMS
also marks their phone verified); ``migrate`` (a user found by ``otp_send``'s
``lookup_connector``: ``context["external_identity"]`` is set with the e-mail address or phone
the code reached marked verified, route it to ``create_user``; unrouted it takes ``failure``'s
route); ``failure`` (5 wrong codes: the code is dead, the user starts again); ``resend`` (the
user asked for a new code: route it back to ``otp_send``, whose counters still hold);
``proved`` (``otp_send`` with ``to = "identifier"``: the address typed is proved,
``context["proved_email"]``; unrouted it takes ``failure``'s route). A code that reached a local
user's e-mail address marks it verified. A right code makes this browser a known device of the
identifier (its own code budget from then on, see :mod:`security.known_devices`).

The hint on the page is worded after ``otp_send``'s ``channel`` setting only: it never shows a
phone number, not even its last digits, because any digit shown would either tell a known
address from an unknown one or give away part of a real user's number to whoever types their
e-mail address.
"""

from __future__ import annotations

import copy

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import DataRequired, Regexp

import authenticators
import connectors
from authenticators.sms_delivery import e164
from journeys.results import Done, Result
from journeys.steps.base import Step, StepForm
from models import User
from security import known_devices
from security.audit import record


def squeeze(value):
    # "123 456" and "123-456" are how people copy codes; the digits are what counts.
    return value.replace(" ", "").replace("-", "").strip() if isinstance(value, str) else value


def code_form(digits: int = 6, formdata=None) -> StepForm:
    """The one-time code field, for codes of ``digits`` digits (Ferry's are 6)."""
    example = "1234567890123"[:digits]

    class CodeForm(StepForm):
        code = StringField(
            _l("Code"),
            validators=[DataRequired(_l("Enter the code.")),
                        Regexp(rf"^[0-9]{{{digits}}}\Z",
                               message=_("The code is %(num)d digits, like %(example)s.",
                                         num=digits, example=example))],
            filters=[squeeze],
            render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "maxlength": 20},
        )

    return CodeForm(formdata=formdata)


ERRORS = {
    "wrong": _l("That code is not right. Check it and try again."),
    "expired": _l("That code has expired. Send a new code."),
    "used": _l("That code has already been used. Send a new code."),
    "missing": _l("There is no code to check yet. Send a new code."),
}


def _write_claim(claims: dict, spec: str, fallback: str, value) -> None:
    path = spec.split("|")[0].split(".") if not spec.startswith("=") else [fallback]
    target = claims
    for part in path[:-1]:
        if not isinstance(target.get(part), dict):
            target[part] = {}
        target = target[part]
    target[path[-1]] = value


def mark_verified(identity: dict, attribute: str = "email", value: str | None = None) -> dict:
    """The legacy identity with the ``email`` or ``phone`` the code reached marked verified.

    The flag is written where the connector's ``mapping`` reads ``<attribute>_verified`` from
    (``<attribute>_verified`` by default), so ``create_user`` stores it like any other claim.
    ``value`` (the E.164 form of the phone the SMS went to) replaces the claim it was read
    from, so the user is created with the number in the form that was proved.
    """
    mapping = connectors.get(identity["connector"]).mapping
    claims = copy.deepcopy(identity.get("claims") or {})
    flag = f"{attribute}_verified"
    _write_claim(claims, mapping.get(flag, flag), flag, True)
    spec = mapping.get(attribute, attribute)
    if value is not None and not spec.startswith("="):
        _write_claim(claims, spec, attribute, value)
    return {**identity, "claims": claims}


class OtpVerifyStep(Step):
    type = "otp_verify"
    outcomes = ("success", "migrate", "failure", "resend", "proved")
    optional_outcomes = {"migrate": "failure", "proved": "failure"}

    def enter(self, run) -> Result:
        return self.render(run, code_form(), hint=self.hint(run))

    def hint(self, run) -> str:
        # The same words whether or not the account exists, and whichever way the code went.
        email = run.context.get("identifier", "")
        channel = run.context.get("otp_channel", "email")
        if channel == "sms":
            return _("If an account exists for %(email)s, we sent a code by text message to its "
                     "phone number. It works for 10 minutes.", email=email)
        if channel == "any":
            return _("If an account exists for %(email)s, we sent a code to its e-mail address "
                     "or, if it has none, by text message to its phone. It works for 10 minutes.",
                     email=email)
        return _("If an account exists for %(email)s, we sent a code to it. It works for 10 "
                 "minutes.", email=email)

    def submit(self, run, form_data) -> Result:
        if form_data.get("resend"):
            if not StepForm(formdata=form_data).validate():
                return self.enter(run)
            return Done("resend")
        form = code_form(formdata=form_data)
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
        by_sms = pending.get("channel") == "sms"
        if "proves" in pending:
            run.context["proved_email"] = pending["proves"]
            record("otp.verified", client_id=run.client_id, purpose="address")
            return Done("proved")
        if "identity" in pending:
            if by_sms:
                run.context["external_identity"] = mark_verified(pending["identity"], "phone",
                                                             pending["address"])
                # create_user marks it verified whatever the mapping, if it is still the user's.
                run.context["phone_proved"] = pending["address"]
            else:
                run.context["external_identity"] = mark_verified(pending["identity"])
                run.context["email_proved"] = True  # create_user marks it verified, as above
            run.context["legacy_amr"] = ["otp"]
            record("otp.verified", client_id=run.client_id,
                   connector=pending["identity"]["connector"])
            known_devices.remember(run.context.get("identifier", ""))
            return Done("migrate")
        user = User.get_or_none(User.id == pending.get("user_id"))
        if user is None or user.status != "active":
            # Cannot happen for a code that was really sent; treat it as a dead end.
            return Done("failure", _("Please start again."))
        if by_sms and not user.phone_verified and e164(user.phone) == pending.get("address"):
            User.update(phone_verified=True).where(User.id == user.id).execute()
            user.phone_verified = True
        if not by_sms and not user.email_verified and user.email == pending.get("address"):
            User.update(email_verified=True).where(User.id == user.id).execute()
            user.email_verified = True
        run.set_user(user, "otp")
        known_devices.remember(run.context.get("identifier", ""))
        record("signin.otp", user_id=user.id, client_id=run.client_id)
        return Done("success")
