"""``legacy_password``: the migration step, checking the password at a legacy IDP.

Settings: ``connector`` (a password connector's name; may be left out when exactly one is
configured). Outcomes: ``success`` (``context["external_identity"]`` is set), ``wrong_credentials``
(counted against the identifier), ``unavailable`` (the legacy side failed: nothing counted, no
user touched), ``throttled``.
"""

from __future__ import annotations

import logging

import connectors
from connectors import InvalidCredentials, LegacyUnavailable, PasswordConnector
from journeys.results import Done, Result
from journeys.steps._attempt import count_failure, password_attempt
from journeys.steps.base import Step, StepSettings, ValidationContext
from journeys.steps.messages import wrong_credentials_notice
from security.audit import record

log = logging.getLogger(__name__)


class LegacyPasswordSettings(StepSettings):
    connector: str | None = None


class LegacyPasswordStep(Step):
    type = "legacy_password"
    Settings = LegacyPasswordSettings
    settings: LegacyPasswordSettings
    outcomes = ("success", "wrong_credentials", "unavailable", "throttled")

    def check(self, context: ValidationContext) -> list[str]:
        password_connectors = [n for n, c in context.connectors.items()
                               if isinstance(c, PasswordConnector)]
        name = self.settings.connector
        if name is not None:
            if name not in context.connectors:
                return [f"connector: no connector named {name!r}"]
            if name not in password_connectors:
                return [f"connector: {name!r} does not check passwords"]
        elif len(password_connectors) > 1:
            return [f"connector: name one of {', '.join(sorted(password_connectors))}"]
        return []

    def connector(self) -> PasswordConnector | None:
        if self.settings.connector:
            return connectors.get(self.settings.connector)
        found = [c for c in connectors.instances().values() if isinstance(c, PasswordConnector)]
        return found[0] if found else None

    def enter(self, run) -> Result:
        attempt = password_attempt(run, missing_outcome="wrong_credentials")
        if isinstance(attempt, Done):
            return attempt
        identifier, password = attempt
        connector = self.connector()
        if connector is None:
            # No legacy IDP configured: the identifier is simply unknown.
            count_failure(identifier)
            return Done("wrong_credentials", wrong_credentials_notice())
        try:
            typed = run.transient.get("typed_identifier")
            identity = connector.verify(connector.legacy_identifier(identifier, typed), password)
        except InvalidCredentials:
            count_failure(identifier)
            record("legacy.refused", client_id=run.client_id, connector=connector.name)
            return Done("wrong_credentials", wrong_credentials_notice())
        except LegacyUnavailable as error:
            record("legacy.unavailable", client_id=run.client_id, connector=connector.name,
                   reason=error.reason)
            return Done("unavailable")
        run.context["external_identity"] = identity.to_context()
        record("legacy.verified", client_id=run.client_id, connector=connector.name,
               subject=identity.subject)
        return Done("success")
