"""``otp_send``: send a one-time code for the run's identifier (an e-mail address).

``channel`` says where it goes: ``email`` (the default) to the account's e-mail address,
``sms`` to its phone (E.164; ``sms_sender`` must be set), ``any`` to the e-mail address when
the account has one, else to the phone. A local user gets it at their ``email`` / ``phone``.
With ``lookup_connector`` (a password connector that can look users up: ``hashes``, ``ldap``,
``rest``, ``okta`` with an API token, ``cognito`` with ``lookup = true``, ``ropc`` with
``lookup_url``), a user not yet
migrated gets it at the ``email`` / ``phone`` the connector's ``mapping`` reads from the legacy
claims. Without it, a user known to the roster of a connector in mode ``closed`` (switched off)
gets it at the roster's address, so the last users can still move over by setting a password.
An unknown identifier (or an account without the address the channel needs) sends
nothing but reads exactly the same ("If an account exists, we sent a code"), so the page never
tells who has an account or how they can be reached. So does a user whose legacy record
cannot be used (an unreadable row, a profile the mapping cannot read): the page cannot say so
without telling anyone who types the address that it exists, so it is audited
(``legacy.user_data_invalid``) and logged for the operator instead.

``to = "identifier"`` (sign-up, a new e-mail address) sends the code to the address typed,
whoever owns it: the code then proves the address itself, not an account (``otp_verify``'s
``proved``); only the ``email`` channel, and no ``lookup_connector``.

Send budgets (counted before the send, atomically, and given back when it fails; see
:class:`security.throttle.SendBudget`): ``otp_sends_per_identifier`` (5 an hour, whatever the
channel) shared by every browser that never signed in as the identifier, ``otp_sends_per_ip``
and ``otp_sends_per_session`` (this journey run). A browser that signed in as the identifier
before (a signed "known device" cookie, :mod:`security.known_devices`) has a budget of its own
for it instead, as large as the identifier's: a storm of sends to someone's address from other
browsers or IPs is throttled, while its owner's browser still gets a code.

Outcomes: ``sent``; ``unavailable`` (the mail server, the SMS sender or the legacy lookup
failed: no code stored, nothing counted); ``throttled`` (a budget above is spent).
"""

from __future__ import annotations

import logging
from typing import Literal, NamedTuple

from flask import has_request_context, request
from flask_babel import gettext as _

import authenticators
import connectors
from authenticators.otp import Channel, DeliveryFailed, SendThrottled
from authenticators.sms_delivery import e164
from connectors import AccountBlocked, LegacyUnavailable, PasswordConnector
from connectors.hashes import UserDataInvalid
from journeys.errors import JourneyBroken
from journeys.results import Done, Result
from journeys.steps.base import Step, StepSettings, ValidationContext
from journeys.steps.legacy_password import profile_problem
from journeys.steps.messages import throttled_notice
from lifecycle import roster
from security import known_devices
from security.audit import record
from security.throttle import Requester
from users.directory import find_by_identifier
from users.mapping import map_claims

log = logging.getLogger(__name__)


class OtpSendSettings(StepSettings):
    lookup_connector: str | None = None
    channel: Literal["email", "sms", "any"] = "email"
    to: Literal["account", "identifier"] = "account"


class Recipient(NamedTuple):
    channel: Channel
    address: str


def could_not_send() -> str:
    """What the user reads when the code could not go out (nothing was spent)."""
    return _("We could not send the code. Please try again in a few minutes.")


def requester(run, identifier: str) -> Requester:
    """Whose send budgets a code for ``identifier`` spends: this run, this IP, or this known
    device's own."""
    ip = request.remote_addr if has_request_context() else None
    return Requester(session=run.model.id_hash, ip=ip, device=known_devices.device_for(identifier))


class OtpSendStep(Step):
    type = "otp_send"
    Settings = OtpSendSettings
    settings: OtpSendSettings
    outcomes = ("sent", "unavailable", "throttled")

    def check(self, context: ValidationContext) -> list[str]:
        problems = []
        channel = self.settings.channel
        if channel != "email" and context.config is not None \
                and context.config.get("SMS_SENDER", "none") == "none":
            problems.append(f"channel: {channel!r} needs an SMS sender: set sms_sender in [ferry]")
        if self.settings.to == "identifier" and (channel != "email"
                                                 or self.settings.lookup_connector):
            problems.append('to: "identifier" sends to the address typed: channel = "email" '
                            "and no lookup_connector")
        return problems + self._check_lookup(context)

    def _check_lookup(self, context: ValidationContext) -> list[str]:
        name = self.settings.lookup_connector
        if name is None:
            return []
        connector = context.connectors.get(name)
        if connector is None:
            return [f"lookup_connector: no connector named {name!r}"]
        if not isinstance(connector, PasswordConnector) or not connector.supports_lookup:
            return [f"lookup_connector: {name!r} cannot look users up (hashes, ldap, rest, okta "
                    "with api_token, cognito with lookup = true and ropc with lookup_url can)"]
        return []

    def enter(self, run) -> Result:
        identifier = run.context.get("identifier")
        if not identifier:
            raise JourneyBroken(f"{self.journey}.{self.name}: no identifier to send a code to")
        otp = authenticators.get("otp")
        who = requester(run, identifier)
        # A cheap look first, so a send storm costs the legacy IDP no lookups; issue() counts.
        wait = otp.send_wait(identifier, who)
        if wait:
            return Done("throttled", throttled_notice(wait))
        try:
            recipient, pending = self._recipient(run, identifier)
        except UserDataInvalid as problem:
            record("legacy.user_data_invalid", client_id=run.client_id,
                   connector=self.settings.lookup_connector, reason=problem.reason)
            recipient, pending = None, {}  # reads like an unknown address: see the docstring
        except LegacyUnavailable as error:
            record("legacy.unavailable", client_id=run.client_id,
                   connector=self.settings.lookup_connector, reason=error.reason)
            return Done("unavailable", could_not_send())
        try:
            otp.issue(run.model.id_hash, identifier, recipient.address if recipient else None,
                      recipient.channel if recipient else "email", requester=who)
        except SendThrottled as throttled:
            return Done("throttled", throttled_notice(throttled.retry_after))
        except DeliveryFailed:
            # An unknown address fails too while real sends fail (SendTiming.imitate).
            record("otp.undelivered", client_id=run.client_id,
                   channel=recipient.channel if recipient else self.settings.channel)
            return Done("unavailable", could_not_send())
        run.context["otp"] = pending  # only now: a failed resend leaves the last code usable
        # The verify page words its hint after the setting, never after where the code went.
        run.context["otp_channel"] = self.settings.channel
        if recipient is None:
            record("otp.unknown", client_id=run.client_id)
        else:
            record("otp.sent", client_id=run.client_id, user_id=pending.get("user_id"),
                   channel=recipient.channel)
        return Done("sent")

    def _choose(self, email: str | None, phone: str | None, who: str) -> Recipient | None:
        """Where the channel setting sends the code, given what the account holds."""
        number = e164(phone)
        if phone and number is None:
            log.warning("%s has a phone number that is not E.164; no SMS goes to it", who)
        if self.settings.channel in ("email", "any") and email:
            return Recipient("email", email)
        if self.settings.channel in ("sms", "any") and number:
            return Recipient("sms", number)
        return None

    def _recipient(self, run, identifier: str) -> tuple[Recipient | None, dict]:
        """Where the code goes, and what ``otp_verify`` needs once it is right."""
        if self.settings.to == "identifier":
            return Recipient("email", identifier), {"proves": identifier, "channel": "email",
                                                    "address": identifier}
        user = find_by_identifier("email", identifier)
        if user is not None:
            if user.status != "active":
                return None, {}
            recipient = self._choose(user.email, user.phone, f"user {user.id}")
            if recipient is None:
                return None, {}
            return recipient, {"user_id": user.id, "channel": recipient.channel,
                               "address": recipient.address}
        name = self.settings.lookup_connector
        if name is None:  # a connector switched off still knows its users: its roster does
            found = roster.closed_lookup(identifier)
            if found is None:
                return None, {}
            identity = found
            connector = connectors.get(identity.connector)
        else:
            connector = connectors.get(name)
            try:
                identity = connector.find(identifier)
            except AccountBlocked:
                return None, {}  # a disabled legacy account reads like an unknown one
            if identity is None:
                return None, {}
        name = connector.name
        problem = profile_problem(identity.subject, identity.claims, connector.mapping,
                                  connector.name)
        if problem is not None:
            log.error("connector %s: legacy user %s: %s: fix the record or the mapping",
                      name, identity.subject, problem)
            raise UserDataInvalid(problem)
        profile = map_claims(identity.claims, connector.mapping)
        recipient = self._choose(profile.get("email"), profile.get("phone"),
                                 f"legacy user {name}:{identity.subject}")
        if recipient is None:
            return None, {}
        pending = {"identity": identity.to_context(), "channel": recipient.channel,
                   "address": recipient.address}
        if recipient.channel == "email":
            pending["email"] = recipient.address
        return recipient, pending
