"""``local_password``: check the password against the user's local credential.

Outcomes: ``success``; ``failure`` (wrong password, counted against the identifier);
``no_credential`` (no local user or no local password: try the legacy IDP); ``throttled``.
"""

from __future__ import annotations

import authenticators
from journeys.results import Done, Result
from journeys.steps._attempt import count_failure, password_attempt
from journeys.steps.base import Step
from journeys.steps.messages import wrong_credentials_notice
from security.audit import record
from users.directory import find_by_identifier


class LocalPasswordStep(Step):
    type = "local_password"
    outcomes = ("success", "failure", "no_credential", "throttled")

    def enter(self, run) -> Result:
        attempt = password_attempt(run, missing_outcome="failure")
        if isinstance(attempt, Done):
            return attempt
        identifier, password = attempt
        user = find_by_identifier(run.context.get("identifier_kind", "email"), identifier)
        password_authenticator = authenticators.get("password")
        credential = password_authenticator.credential(user)
        if credential is None:
            return Done("no_credential")
        if password_authenticator.verify(credential, password) and user.status == "active":
            run.set_user(user, "pwd")
            record("signin.password", user_id=user.id, client_id=run.client_id)
            return Done("success")
        count_failure(identifier)
        record("signin.failed", user_id=user.id, client_id=run.client_id, reason="wrong_password")
        return Done("failure", wrong_credentials_notice())
