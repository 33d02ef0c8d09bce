"""``otp_send``: send a one-time code to the e-mail address of the run's identifier.

A local user gets it at their e-mail address. With ``lookup_connector`` (a password connector
that can look users up: ``hashes``, ``ldap``, ``rest``, ``okta`` with an API token), a user not
yet migrated gets it at the e-mail address the legacy IDP holds. An unknown identifier sends
nothing but reads exactly the same ("If an account exists, we sent a code"), so the page never
tells who has an account. Outcomes: ``sent``; ``unavailable`` (the mail server or the legacy
lookup failed: no code stored, nothing counted); ``throttled`` (5 codes an hour per identifier).
"""

from __future__ import annotations

from flask_babel import gettext as _

import authenticators
import connectors
from authenticators.otp import DeliveryFailed, SendThrottled
from connectors import AccountBlocked, LegacyUnavailable, PasswordConnector
from journeys.errors import JourneyBroken
from journeys.results import Done, Result
from journeys.steps.base import Step, StepSettings, ValidationContext
from journeys.steps.messages import throttled_notice
from security.audit import record
from users.directory import find_by_identifier
from users.mapping import map_claims


class OtpSendSettings(StepSettings):
    lookup_connector: str | None = None


def could_not_send() -> str:
    return _("We could not send the code. Please try again in a few minutes.")


class OtpSendStep(Step):
    type = "otp_send"
    Settings = OtpSendSettings
    settings: OtpSendSettings
    outcomes = ("sent", "unavailable", "throttled")

    def check(self, context: ValidationContext) -> list[str]:
        name = self.settings.lookup_connector
        if name is None:
            return []
        connector = context.connectors.get(name)
        if connector is None:
            return [f"lookup_connector: no connector named {name!r}"]
        if not isinstance(connector, PasswordConnector) or not connector.supports_lookup:
            return [f"lookup_connector: {name!r} cannot look users up"]
        return []

    def enter(self, run) -> Result:
        identifier = run.context.get("identifier")
        if not identifier:
            raise JourneyBroken(f"{self.journey}.{self.name}: no identifier to send a code to")
        try:
            address, pending = self._recipient(run, identifier)
        except LegacyUnavailable as error:
            record("legacy.unavailable", client_id=run.client_id,
                   connector=self.settings.lookup_connector, reason=error.reason)
            return Done("unavailable", could_not_send())
        try:
            authenticators.get("otp").issue(run.model.id_hash, identifier, address)
        except SendThrottled as throttled:
            return Done("throttled", throttled_notice(throttled.retry_after))
        except DeliveryFailed:
            record("otp.undelivered", client_id=run.client_id)
            return Done("unavailable", could_not_send())
        run.context["otp"] = pending  # only now: a failed resend leaves the last code usable
        record("otp.sent" if address else "otp.unknown", client_id=run.client_id,
               user_id=pending.get("user_id"))
        return Done("sent")

    def _recipient(self, run, identifier: str) -> tuple[str | None, dict]:
        """Where the code goes, and what ``otp_verify`` needs once it is right."""
        user = find_by_identifier("email", identifier)
        if user is not None:
            if user.status == "active" and user.email:
                return user.email, {"user_id": user.id}
            return None, {}
        name = self.settings.lookup_connector
        if name is None:
            return None, {}
        connector = connectors.get(name)
        try:
            identity = connector.find(identifier)
        except AccountBlocked:
            return None, {}  # a disabled legacy account reads like an unknown one
        if identity is None:
            return None, {}
        email = map_claims(identity.claims, connector.mapping).get("email")
        if not email:
            return None, {}
        return email, {"identity": identity.to_context(), "email": email}
