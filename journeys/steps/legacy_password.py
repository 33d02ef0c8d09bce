"""``legacy_password``: the migration step, checking the password at a legacy IDP.

Settings (all optional):

* ``connector``: the one password connector to ask;
* ``connectors``: an ordered fallback list, asked in turn until one says yes;
* ``route_by_domain``: ``{ "corp.example" = "corp-ad", "*" = "consumer-auth0" }``: the
  identifier's e-mail domain picks the connector list (``*`` for every other domain); a value
  may be one name or a list.
Without any of them, the only password connector is used.

Outcomes: ``success`` (``context["external_identity"]``), ``wrong_credentials`` (counted against
the identifier), ``not_found`` (every source said "no such user"; counted, and falls back to
``wrong_credentials``' route), ``unavailable`` (a source failed and none said yes: the password
may be right there, so nothing is counted and no user touched, whatever the other sources
said), ``mfa_required`` (the legacy IDP wants a second factor: route it to a ``legacy_mfa``
step; unrouted, it takes ``unavailable``'s route so nobody migrates on a password alone),
``blocked`` (locked, disabled or expired at the legacy side; falls back to
``wrong_credentials``), ``user_data_invalid`` (this user's legacy record cannot be used: a
malformed or unknown hash, a profile the mapping cannot turn into a user; audited as
``legacy.user_data_invalid`` with the reason; never "try again later", never counted towards
the circuit breaker; counted against the identifier only if another source refused the
password; falls back to ``wrong_credentials``' route, with its own message), ``closed``
(every source asked is in mode ``closed``: switched off, so never called, and this user never
migrated; route it to a page that sends them to set a new password; unrouted it takes
``unavailable``'s route), ``throttled``.
"""

from __future__ import annotations

import logging
from typing import Any

from flask_babel import gettext as _
from pydantic import field_validator

import authenticators
import connectors
from connectors import (
    AccountBlocked,
    InvalidCredentials,
    LegacyUnavailable,
    MfaRequired,
    PasswordConnector,
    UserNotFound,
)
from connectors.hashes import UserDataInvalid
from journeys.results import Done, Result
from journeys.steps._attempt import Attempt, password_attempt, spent_on_new_hash
from journeys.steps.base import Step, StepSettings, ValidationContext
from journeys.steps.messages import N_, wrong_credentials_notice
from models import LegacyLink, User
from security import known_devices
from security.audit import record
from users.mapping import STANDARD_ATTRIBUTES, map_claims
from users.schema import live as live_schema

log = logging.getLogger(__name__)


class LegacyPasswordSettings(StepSettings):
    connector: str | None = None
    connectors: list[str] | None = None
    route_by_domain: dict[str, str | list[str]] = {}

    @field_validator("route_by_domain")
    @classmethod
    def _lower_domains(cls, value: dict[str, str | list[str]]) -> dict[str, list[str]]:
        return {domain.lower().lstrip("@"): [names] if isinstance(names, str) else list(names)
                for domain, names in value.items()}


#: Shown through gettext (``_(BLOCKED_NOTICES[reason])``), hence marked, not translated, here.
BLOCKED_NOTICES = {
    "locked": N_("Your account is locked in our old sign-in system. Please contact support."),
    "disabled": N_("Your account is disabled. Please contact support."),
    "password_expired": N_("Your password has expired. Please reset it, then sign in again."),
    "password_change_required": N_("You need to choose a new password before you can sign in. "
                                   "Please reset it, then sign in again."),
}


def user_data_notice() -> str:
    """What a user whose legacy record cannot be used is told (never "try again later")."""
    return _("We can't move your account to our new sign-in: something in its record in our "
             "old system needs fixing first. Nothing was changed. Please contact support.")


_BOOLEAN_ATTRIBUTES = ("email_verified", "phone_verified")
_SUBJECT_LIMIT = LegacyLink.subject.max_length


def profile_problem(subject: str, claims: dict[str, Any], mapping: dict[str, str],
                    connector: str | None = None) -> str | None:
    """Why the mapped profile cannot make a local user (for the operator, no values), or None.

    Standard attributes become columns: text must be text that fits, a flag a single value.
    An attribute the user schema requires must be there, unless the legacy identity
    (``connector``, ``subject``) already has its user: a requirement added later never locks a
    migrated user out.
    """
    try:
        profile = map_claims(claims, mapping)
    except (TypeError, ValueError, AttributeError) as error:
        return f"the mapping cannot read the profile ({type(error).__name__})"
    missing = [name for name, spec in live_schema().all().items()
               if spec.required and profile.get(name) in (None, "", [])]
    if missing and not (connector and LegacyLink.select().where(
            (LegacyLink.connector == connector) & (LegacyLink.subject == subject)).exists()):
        return f"profile: {', '.join(missing)} required by the user schema, but absent"
    if len(subject) > _SUBJECT_LIMIT:
        return f"the subject is longer than {_SUBJECT_LIMIT} characters"
    for name in STANDARD_ATTRIBUTES:
        if name not in profile:
            continue
        value = profile[name]
        if name in _BOOLEAN_ATTRIBUTES:
            if isinstance(value, dict | list):  # a scalar is read as a flag; these are not
                return f"profile: {name} is a {type(value).__name__}, not true or false"
            continue
        if not isinstance(value, str):
            return f"profile: {name} is a {type(value).__name__}, not text"
        limit = User._meta.fields[name].max_length
        if limit and len(value) > limit:
            return f"profile: {name} is longer than {limit} characters"
    return None


class LegacyPasswordStep(Step):
    type = "legacy_password"
    Settings = LegacyPasswordSettings
    settings: LegacyPasswordSettings
    outcomes = ("success", "wrong_credentials", "not_found", "unavailable", "mfa_required",
                "blocked", "user_data_invalid", "closed", "throttled")
    optional_outcomes = {"not_found": "wrong_credentials", "blocked": "wrong_credentials",
                         "mfa_required": "unavailable", "user_data_invalid": "wrong_credentials",
                         "closed": "unavailable"}

    def named_connectors(self) -> list[str]:
        names = list(self.settings.connectors or [])
        if self.settings.connector:
            names.insert(0, self.settings.connector)
        for listed in self.settings.route_by_domain.values():
            names.extend(listed)
        return names

    def check(self, context: ValidationContext) -> list[str]:
        password_connectors = {n for n, c in context.connectors.items()
                               if isinstance(c, PasswordConnector)}
        problems = []
        for name in self.named_connectors():
            if name not in context.connectors:
                problems.append(f"connector: no connector named {name!r}")
            elif name not in password_connectors:
                problems.append(f"connector: {name!r} does not check passwords")
        if not self.named_connectors() and len(password_connectors) > 1:
            problems.append(f"connector: name one of {', '.join(sorted(password_connectors))} "
                            "(or list them in `connectors`)")
        return problems

    def candidates(self, identifier: str) -> list[PasswordConnector]:
        """The connectors to ask for ``identifier``, in order."""
        routes = self.settings.route_by_domain
        if routes:
            domain = identifier.rpartition("@")[2].lower()
            names = routes.get(domain, routes.get("*", []))
        else:
            names = self.named_connectors()
        if names:
            return [connectors.get(name) for name in names]
        return [c for c in connectors.instances().values() if isinstance(c, PasswordConnector)][:1]

    def enter(self, run) -> Result:
        attempt = password_attempt(run, missing_outcome="wrong_credentials")
        if isinstance(attempt, Done):
            return attempt
        if not attempt.admitted:
            return attempt.throttled(run)
        typed = run.transient.get("typed_identifier")
        said: set[str] = set()  # what the sources said, for the verdict below
        for connector in self.candidates(attempt.identifier):
            if connector.settings.migration == "closed":
                said.add("closed")  # switched off: never called
                continue
            try:
                identity = connector.check_password(
                    connector.legacy_identifier(attempt.identifier, typed), attempt.password)
            except UserNotFound:
                self._checked(attempt, connector)
                said.add("not_found")
                record("legacy.not_found", client_id=run.client_id, connector=connector.name)
                continue
            except InvalidCredentials:
                self._checked(attempt, connector)
                said.add("wrong_credentials")
                record("legacy.refused", client_id=run.client_id, connector=connector.name)
                continue
            except UserDataInvalid as problem:
                self._checked(attempt, connector)
                said.add("user_data_invalid")
                record("legacy.user_data_invalid", client_id=run.client_id,
                       connector=connector.name, reason=problem.reason)
                continue
            except LegacyUnavailable as error:
                said.add("unavailable")
                record("legacy.unavailable", client_id=run.client_id, connector=connector.name,
                       reason=error.reason)
                continue
            except MfaRequired as challenge:
                self._checked(attempt, connector)
                attempt.give_back()  # the password was right
                return self._mfa(run, connector, challenge, attempt.password)
            except AccountBlocked as blocked:
                self._checked(attempt, connector)
                attempt.give_back()  # the legacy IDP says why; it is no guess to count
                record("legacy.blocked", client_id=run.client_id, connector=connector.name,
                       reason=blocked.reason)
                return Done("blocked", _(BLOCKED_NOTICES[blocked.reason]))
            self._checked(attempt, connector)
            attempt.give_back()
            problem = profile_problem(identity.subject, identity.claims, connector.mapping,
                                      connector.name)
            if problem is not None:
                # The password was right, but the profile cannot make a user: say so, once.
                log.error("connector %s: legacy user %s: %s: fix the record or the mapping",
                          connector.name, identity.subject, problem)
                record("legacy.user_data_invalid", client_id=run.client_id,
                       connector=connector.name, reason=problem)
                return Done("user_data_invalid", user_data_notice())
            run.context["external_identity"] = identity.to_context()
            record("legacy.verified", client_id=run.client_id, connector=connector.name,
                   subject=identity.subject)
            known_devices.remember(attempt.identifier)
            return Done("success")
        return self._verdict(attempt, said)

    @staticmethod
    def _checked(attempt: Attempt, connector: PasswordConnector) -> None:
        if getattr(connector, "checks_hash_locally", False):
            attempt.checked = True  # that source's own hash check was this attempt's one

    @staticmethod
    def _verdict(attempt: Attempt, said: set[str]) -> Result:
        """No source said yes: tell what is true, and count only a real refusal.

        A source that could not answer wins (the password may be right there: "we could not
        check your password right now", nothing counted); then sources that are all closed
        (nothing counted: the user is sent to set a new password); then a source whose record of this
        user is unusable (counted only if another source refused the password); then "wrong
        password" (counted).
        """
        if "unavailable" in said:
            attempt.give_back()
            return Done("unavailable")
        if said == {"closed"}:
            attempt.give_back()  # nothing was checked
            return Done("closed")
        if "user_data_invalid" in said:
            if "wrong_credentials" not in said:
                attempt.give_back()  # no password was checked anywhere
            return Done("user_data_invalid", user_data_notice())
        outcome = "wrong_credentials" if "wrong_credentials" in said else "not_found"
        return Done(outcome, wrong_credentials_notice())

    def _mfa(self, run, connector: PasswordConnector, challenge: MfaRequired,
             password: str) -> Result:
        pending: dict[str, Any] = {"connector": connector.name, "state": challenge.state,
                                   "factor": challenge.factor, "failures": 0}
        # The password is gone after this request; keep its argon2id hash for create_user.
        pending["password_hash"] = authenticators.get("password").hash(password)
        spent_on_new_hash(run)
        run.context["legacy_mfa"] = pending
        record("legacy.mfa_required", client_id=run.client_id, connector=connector.name,
               factor=challenge.factor)
        return Done("mfa_required")
