"""``register_passkey``: offer a passkey to the user the run knows (after ``create_user``).

The page explains passkeys in one sentence; "Create a passkey" runs the WebAuthn ceremony in
``static/ferry-webauthn.js`` and posts the browser's answer in the ``credential`` field; "Not
now" skips. Without JavaScript (or WebAuthn) only "Not now" works, so nobody is stuck here.

Settings: ``optional`` (default true: offer "Not now"); ``ask_again_after`` (default 3): after
"Not now", the offer comes back on the user's third sign-in from then ("never": not again;
0: every time); ``offer_pin`` (default false): also offer "Use a PIN on this device instead".
Outcomes: ``registered``, ``skipped``, ``not_offered`` (the user has a passkey or a PIN, or said
"Not now" too recently; unrouted it takes ``skipped``'s route) and ``pin`` (routed to a
``register_pin`` step when ``offer_pin`` is on). ``when = "asked"`` (the ``add-passkey``
journey of the account page): the user asked for one, so the page is always shown and "Not
now" (a cancel) records nothing; the default ``"offered"`` applies the policy above. ``when =
"required"`` (a legacy password that fails the policy, ``password_policy`` with ``mode =
"passkey"``): the page is always shown and its only other way on is "Choose a new password
instead" (outcome ``skipped``: route it to a ``set_password`` step), so a browser without
passkeys never locks the user out; ``not_offered`` is a user who has a passkey already.
"""

from __future__ import annotations

from typing import Literal

from flask_babel import gettext as _
from wtforms import HiddenField

import authenticators
from authenticators.passkey import PasskeyRefused
from journeys.errors import JourneyBroken
from journeys.results import Done, Result
from journeys.steps.base import Step, StepForm, StepSettings, ValidationContext
from models import EnrollmentOffer, PasskeyCredential, PinCredential, User, fast, utcnow
from security.audit import record


class RegisterPasskeySettings(StepSettings):
    optional: bool = True
    ask_again_after: int | Literal["never"] = 3
    offer_pin: bool = False
    when: Literal["offered", "asked", "required"] = "offered"


def offer_due(user: User, kind: str) -> bool:
    """Whether the user's last "Not now" to ``kind`` has run its course."""
    offer = fast.get(EnrollmentOffer, user=user.id, kind=kind)
    if offer is None:
        return True
    return offer.ask_after is not None and user.signin_count >= offer.ask_after


def decline(user: User, kind: str, ask_again_after: int | str) -> None:
    """Remember a "Not now"; one row per user and kind, safe against two tabs at once."""
    ask_after = None if ask_again_after == "never" else user.signin_count + int(ask_again_after)
    (EnrollmentOffer
     .insert(user=user, kind=kind, declined=1, ask_after=ask_after, updated_at=utcnow())
     .on_conflict(conflict_target=[EnrollmentOffer.user, EnrollmentOffer.kind],
                  update={EnrollmentOffer.declined: EnrollmentOffer.declined + 1,
                          EnrollmentOffer.ask_after: ask_after,
                          EnrollmentOffer.updated_at: utcnow()})
     .execute())


class PasskeyForm(StepForm):
    """The browser's WebAuthn answer as JSON, filled in by ``ferry-webauthn.js``."""

    credential = HiddenField()


class RegisterPasskeyStep(Step):
    type = "register_passkey"
    Settings = RegisterPasskeySettings
    settings: RegisterPasskeySettings
    outcomes = ("registered", "skipped", "not_offered", "pin")
    optional_outcomes = {"not_offered": "skipped", "pin": "skipped"}

    def check(self, context: ValidationContext) -> list[str]:
        if isinstance(self.settings.ask_again_after, int) and self.settings.ask_again_after < 0:
            return ["ask_again_after: a number of sign-ins (0 or more), or \"never\""]
        if self.settings.offer_pin and "pin" not in self.settings.on:
            return ["on: outcome 'pin' must be routed (to a register_pin step) when offer_pin is on"]
        return []

    def enter(self, run) -> Result:
        user = run.user
        if user is None:
            raise JourneyBroken(f"{self.journey}.{self.name}: reached without a user")
        if self.settings.when == "required" and fast.exists(PasskeyCredential, user=user.id):
            return Done("not_offered")
        if self.settings.when == "offered":
            # The "Not now" first: most returning users said it, and it is one query, not three.
            if self.settings.optional and not offer_due(user, "passkey"):
                return Done("not_offered")
            if (fast.exists(PasskeyCredential, user=user.id)
                    or fast.exists(PinCredential, user=user.id)):
                return Done("not_offered")
        return self._page(run, user)

    def _page(self, run, user) -> Result:
        options = authenticators.get("passkey").registration_options(run.context, user)
        return self.render(run, PasskeyForm(formdata=None), options=options,
                           optional=self.settings.optional, offer_pin=self.settings.offer_pin,
                           asked=self.settings.when == "asked",
                           required=self.settings.when == "required")

    def submit(self, run, form_data) -> Result:
        form = PasskeyForm(formdata=form_data)
        if not form.validate():
            return self._page(run, run.user)
        user = run.user
        if user is None:
            raise JourneyBroken(f"{self.journey}.{self.name}: reached without a user")
        if form_data.get("pin") and self.settings.offer_pin:
            run.context.pop("webauthn", None)
            decline(user, "passkey", self.settings.ask_again_after)  # a PIN, not a passkey
            return Done("pin")
        if form_data.get("skip") and (self.settings.optional or self.settings.when == "required"):
            run.context.pop("webauthn", None)
            if self.settings.when == "offered":
                decline(user, "passkey", self.settings.ask_again_after)
                record("passkey.declined", user_id=user.id, client_id=run.client_id)
            return Done("skipped")
        try:
            passkey = authenticators.get("passkey").register(run.context, user, form.credential.data or "")
        except PasskeyRefused as refused:
            record("passkey.refused", user_id=user.id, client_id=run.client_id,
                   ceremony="registration", reason=refused.reason)
            run.add_notice(_("We couldn't create the passkey. Try again, or choose Not now."))
            return self._page(run, user)
        record("passkey.registered", user_id=user.id, client_id=run.client_id,
               credential=passkey.credential_id)
        return Done("registered")
