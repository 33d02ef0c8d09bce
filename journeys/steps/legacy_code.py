"""``legacy_code``: sign in with the one-time code the legacy IDP itself sends and checks.

For users not yet migrated, at a legacy IDP with its own passwordless sign-in (``auth0`` with
``passwordless = "email"``). Arriving, the step asks the connector to send a code to the run's
identifier (``context["identifier"]``, from ``identify``) and shows a code form like
``otp_verify``'s; the code typed is exchanged at the legacy IDP for the user's profile.

A user who already migrated is not sent to the legacy IDP: the step reports ``local`` at once,
and the journey routes it to Ferry's own code (``otp_send``). An address the legacy IDP will not
send to (unknown where its sign-ups are off, or one it rejects) reads exactly like one it sent
to, down to the "wrong code" that follows.

Settings: ``connector`` (required: a connector that sends codes, checked at start-up);
``max_attempts`` (default 3, Auth0's own limit: after 3 wrong tries its code is dead).

Outcomes:

* ``success``: ``context["external_identity"]`` is set with the e-mail marked verified (when it
  is the address the code went to) and ``legacy_amr`` ``["otp"]``: route it to ``create_user``.
* ``local``: a local user has this identifier; nothing was sent: route it to ``otp_send``.
* ``failure``: ``max_attempts`` wrong codes, or the legacy account is blocked: start again.
* ``unavailable``: the legacy IDP could not send or check the code; nothing is counted or used
  up, and a code already sent still works.
* ``throttled`` (optional, takes ``failure``'s route): a send budget is spent (the same budgets
  as ``otp_send``'s, the identifier's counted apart: 5 codes an hour, a known device's own, per
  IP and per run), or the legacy IDP's brute-force protection refuses more.
* ``user_data_invalid`` (optional, takes ``failure``'s route, with its own message): the code
  was right but the legacy profile cannot make a user (audited ``legacy.user_data_invalid``).
* ``resend``: the user asked for a new code; route it back to this step (which sends one) or to
  ``identify``.
"""

from __future__ import annotations

import logging
import math

from flask_babel import gettext as _
from flask_babel import ngettext
from pydantic import Field

import authenticators
import connectors
from connectors import (
    AccountBlocked,
    ExternalIdentity,
    InvalidCredentials,
    LegacyUnavailable,
    UserNotFound,
)
from connectors.base import CodeThrottled, PasswordlessConnector
from journeys.errors import JourneyBroken
from journeys.results import Done, Result
from journeys.steps.base import Step, StepForm, StepSettings, ValidationContext
from journeys.steps.legacy_password import BLOCKED_NOTICES, profile_problem, user_data_notice
from journeys.steps.messages import throttled_notice
from journeys.steps.otp_send import could_not_send, requester
from journeys.steps.otp_verify import code_form, mark_verified
from security import known_devices
from security.audit import record
from security.throttle import BudgetSpent
from users.directory import find_by_identifier
from users.identifiers import normalise
from users.mapping import map_claims

#: Codes sent count in Ferry's one-time-code send budgets; the identifier's under their own
#: name: a code from the legacy IDP and one from Ferry are told apart in the counts.
SEND_SCOPE = "legacy_code_send"
#: Where the run keeps the code in progress: the identifier it went to and the wrong tries.
PENDING = "legacy_code"

log = logging.getLogger(__name__)


class LegacyCodeSettings(StepSettings):
    connector: str
    max_attempts: int = Field(3, ge=1, le=10)


class LegacyCodeStep(Step):
    type = "legacy_code"
    Settings = LegacyCodeSettings
    settings: LegacyCodeSettings
    outcomes = ("success", "local", "failure", "unavailable", "throttled", "resend",
                "user_data_invalid")
    optional_outcomes = {"throttled": "failure", "user_data_invalid": "failure"}

    def check(self, context: ValidationContext) -> list[str]:
        name = self.settings.connector
        connector = context.connectors.get(name)
        if connector is None:
            return [f"connector: no connector named {name!r}"]
        if not isinstance(connector, PasswordlessConnector) or connector.code_channel is None:
            return [f"connector: {name!r} does not send one-time codes "
                    '(for an auth0 connector, set passwordless = "email")']
        if connector.code_channel != "email":
            return [f"connector: {name!r} sends its codes by {connector.code_channel}, but this "
                    'step sends them to the e-mail address `identify` asked for: set '
                    'passwordless = "email"']
        return []

    def connector(self) -> PasswordlessConnector:
        return connectors.get(self.settings.connector)

    # -- arriving: send a code ------------------------------------------------------------
    def enter(self, run) -> Result:
        identifier = run.context.get("identifier")
        if not identifier:
            raise JourneyBroken(f"{self.journey}.{self.name}: no identifier to send a code to")
        if find_by_identifier("email", identifier) is not None:
            run.context.pop(PENDING, None)
            return Done("local")  # migrated already: Ferry's own code, never the legacy IDP's
        pending = run.context.get(PENDING)
        if pending and pending["identifier"] == identifier and not pending.get("resend"):
            return self.show(run)  # a reload: the code already sent still works
        return self.send(run, identifier)

    def send(self, run, identifier: str) -> Result:
        sends = authenticators.get("otp").sends
        pending = run.context.get(PENDING)
        try:
            charge = sends.take(SEND_SCOPE, identifier, requester(run, identifier))
        except BudgetSpent as spent:
            if pending:
                pending.pop("resend", None)  # the last code sent still works
            return Done("throttled", throttled_notice(spent.retry_after))
        connector = self.connector()
        sent = True
        try:
            connector.request_code(identifier, connector.code_channel)
        except UserNotFound:
            sent = False  # from here on this reads exactly as if a code had gone out
        except CodeThrottled:
            sends.give_back(charge)
            record("legacy.code_throttled", client_id=run.client_id, connector=connector.name)
            return Done("throttled", _("Too many attempts. Please try again later."))
        except LegacyUnavailable as error:
            # Nothing counted, nothing stored: a code sent before still works.
            sends.give_back(charge)
            record("legacy.unavailable", client_id=run.client_id, connector=connector.name,
                   reason=error.reason)
            return Done("unavailable", could_not_send())
        run.context[PENDING] = {"identifier": identifier, "failures": 0}
        record("legacy.code_sent" if sent else "legacy.code_refused", client_id=run.client_id,
               connector=connector.name)
        return self.show(run)

    def show(self, run, form: StepForm | None = None) -> Result:
        connector = self.connector()
        return self.render(run, form or code_form(connector.code_digits),
                           hint=self.hint(run, connector.code_ttl))

    def hint(self, run, ttl: int) -> str:
        # Worded like otp_verify's, whether or not the legacy IDP knows the address.
        return ngettext(
            "If an account exists for %(email)s, we sent a code to it. It works for %(num)d "
            "minute.",
            "If an account exists for %(email)s, we sent a code to it. It works for %(num)d "
            "minutes.",
            max(1, math.ceil(ttl / 60)), email=run.context.get("identifier", ""),
        )

    # -- the code typed ---------------------------------------------------------------------
    def submit(self, run, form_data) -> Result:
        pending = run.context.get(PENDING)
        if not pending or pending["identifier"] != run.context.get("identifier"):
            return self.enter(run)
        if form_data.get("resend"):
            if not StepForm(formdata=form_data).validate():
                return self.show(run)
            pending["resend"] = True
            return Done("resend")
        connector = self.connector()
        form = code_form(connector.code_digits, form_data)
        if not form.validate():
            return self.show(run, form)
        try:
            identity = connector.redeem_code(pending["identifier"], form.code.data,
                                             connector.code_channel)
        except InvalidCredentials:
            pending["failures"] += 1
            record("legacy.code_failed", client_id=run.client_id, connector=connector.name)
            if pending["failures"] >= self.settings.max_attempts:
                run.context.pop(PENDING)
                return Done("failure", _("Too many wrong codes. Please start again."))
            # The legacy IDP does not say whether the code was wrong, used or expired.
            form.code.errors = [_("That code is not right, or it has expired. Check it, or "
                                  "send a new code.")]
            return self.show(run, form)
        except CodeThrottled:
            run.context.pop(PENDING)
            record("legacy.code_throttled", client_id=run.client_id, connector=connector.name)
            return Done("throttled", _("Too many attempts. Please try again later."))
        except AccountBlocked as blocked:
            run.context.pop(PENDING)
            record("legacy.blocked", client_id=run.client_id, connector=connector.name,
                   reason=blocked.reason)
            return Done("failure", _(BLOCKED_NOTICES[blocked.reason]))
        except LegacyUnavailable as error:
            record("legacy.unavailable", client_id=run.client_id, connector=connector.name,
                   reason=error.reason)
            return Done("unavailable",
                        _("We could not check the code right now. Please try again in a few "
                          "minutes."))
        run.context.pop(PENDING)
        return self.proved(run, connector, identity, pending["identifier"])

    def proved(self, run, connector: PasswordlessConnector, identity: ExternalIdentity,
               identifier: str) -> Result:
        problem = profile_problem(identity.subject, identity.claims, connector.mapping,
                                  connector.name)
        if problem is not None:
            log.error("connector %s: legacy user %s: %s: fix the record or the mapping",
                      connector.name, identity.subject, problem)
            record("legacy.user_data_invalid", client_id=run.client_id, connector=connector.name,
                   reason=problem)
            return Done("user_data_invalid", user_data_notice())
        data = identity.to_context()
        email = map_claims(identity.claims, connector.mapping).get("email")
        # The code proves the address it went to: only that one is marked verified.
        if isinstance(email, str) and normalise("email", email) == identifier:
            data = mark_verified(data)
            run.context["email_proved"] = True  # create_user marks it verified whatever the mapping
        run.context["external_identity"] = data
        run.context["legacy_amr"] = ["otp"]
        record("legacy.verified", client_id=run.client_id, connector=connector.name,
               subject=identity.subject, method="otp")
        known_devices.remember(identifier)
        return Done("success")
