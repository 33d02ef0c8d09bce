"""``legacy_password``: the migration step, checking the password at a legacy IDP.

Settings (all optional):

* ``connector``: the one password connector to ask;
* ``connectors``: an ordered fallback list, asked in turn until one knows the user;
* ``route_by_domain``: ``{ "corp.example" = "corp-ad", "*" = "consumer-auth0" }``: the
  identifier's e-mail domain picks the connector list (``*`` for every other domain); a value
  may be one name or a list.
Without any of them, the only password connector is used.

Outcomes: ``success`` (``context["external_identity"]``), ``wrong_credentials`` (counted against
the identifier), ``not_found`` (every source said "no such user"; falls back to
``wrong_credentials``' route), ``unavailable`` (a source failed and none said yes: nothing
counted, no user touched), ``mfa_required`` (the legacy IDP wants a second factor: route it to a
``legacy_mfa`` step; unrouted, it takes ``unavailable``'s route so nobody migrates on a password
alone), ``blocked`` (locked, disabled or expired at the legacy side; falls back to
``wrong_credentials``), ``throttled``.
"""

from __future__ import annotations

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
from journeys.results import Done, Result
from journeys.steps._attempt import count_failure, password_attempt
from journeys.steps.base import Step, StepSettings, ValidationContext
from journeys.steps.messages import wrong_credentials_notice
from security.audit import record


class LegacyPasswordSettings(StepSettings):
    connector: str | None = None
    connectors: list[str] | None = None
    route_by_domain: dict[str, str | list[str]] = {}

    @field_validator("route_by_domain")
    @classmethod
    def _lower_domains(cls, value: dict[str, str | list[str]]) -> dict[str, list[str]]:
        return {domain.lower().lstrip("@"): [names] if isinstance(names, str) else list(names)
                for domain, names in value.items()}


BLOCKED_NOTICES = {
    "locked": "Your account is locked in our old sign-in system. Please contact support.",
    "disabled": "Your account is disabled. Please contact support.",
    "password_expired": "Your password has expired. Please reset it, then sign in again.",
    "password_change_required": "You need to choose a new password before you can sign in. "
    "Please reset it, then sign in again.",
}


class LegacyPasswordStep(Step):
    type = "legacy_password"
    Settings = LegacyPasswordSettings
    settings: LegacyPasswordSettings
    outcomes = ("success", "wrong_credentials", "not_found", "unavailable", "mfa_required",
                "blocked", "throttled")
    optional_outcomes = {"not_found": "wrong_credentials", "blocked": "wrong_credentials",
                         "mfa_required": "unavailable"}

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
        identifier, password = attempt
        typed = run.transient.get("typed_identifier")
        outcome = "not_found"
        for connector in self.candidates(identifier):
            try:
                identity = connector.check_password(
                    connector.legacy_identifier(identifier, typed), password)
            except UserNotFound:
                continue
            except InvalidCredentials:
                outcome = "wrong_credentials" if outcome != "unavailable" else outcome
                record("legacy.refused", client_id=run.client_id, connector=connector.name)
                continue
            except LegacyUnavailable as error:
                outcome = "unavailable"
                record("legacy.unavailable", client_id=run.client_id, connector=connector.name,
                       reason=error.reason)
                continue
            except MfaRequired as challenge:
                return self._mfa(run, connector, challenge, password)
            except AccountBlocked as blocked:
                record("legacy.blocked", client_id=run.client_id, connector=connector.name,
                       reason=blocked.reason)
                return Done("blocked", _(BLOCKED_NOTICES[blocked.reason]))
            run.context["external_identity"] = identity.to_context()
            record("legacy.verified", client_id=run.client_id, connector=connector.name,
                   subject=identity.subject)
            return Done("success")
        if outcome == "unavailable":
            # One source failed: the password may be right there, so nothing is counted.
            return Done("unavailable")
        count_failure(identifier)
        return Done(outcome, wrong_credentials_notice())

    def _mfa(self, run, connector: PasswordConnector, challenge: MfaRequired,
             password: str) -> Result:
        pending: dict[str, Any] = {"connector": connector.name, "state": challenge.state,
                                   "factor": challenge.factor, "failures": 0}
        # The password is gone after this request; keep its argon2id hash for create_user.
        pending["password_hash"] = authenticators.get("password").hash(password)
        run.context["legacy_mfa"] = pending
        record("legacy.mfa_required", client_id=run.client_id, connector=connector.name,
               factor=challenge.factor)
        return Done("mfa_required")
