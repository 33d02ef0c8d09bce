"""``local_password``: check the password against the user's local credential.

Outcomes: ``success``; ``failure`` (wrong password, or a user who may not sign in; counted
against the identifier); ``no_credential`` (no local user or no local password: try the legacy
IDP; the attempt stays counted unless a later step gives it back; also every user linked to a
connector in mode ``sync``, whose password the legacy IDP keeps); ``throttled``. Every one of
them costs the same single hash check (see :mod:`journeys.steps._attempt`).

A user linked to a connector in mode ``shadow`` is also checked there, in the background
(:mod:`lifecycle.shadow`); the answer is counted and never changes this one.
"""

from __future__ import annotations

import authenticators
from journeys.results import Done, Result
from journeys.steps._attempt import password_attempt
from journeys.steps.base import Step
from journeys.steps.messages import wrong_credentials_notice
from lifecycle import modes, shadow
from security import known_devices
from security.audit import record
from users.directory import find_by_identifier


class LocalPasswordStep(Step):
    type = "local_password"
    outcomes = ("success", "failure", "no_credential", "throttled")

    def enter(self, run) -> Result:
        attempt = password_attempt(run, missing_outcome="failure")
        if isinstance(attempt, Done):
            return attempt
        # Looked up whatever the throttle said, so a refused attempt does the same work.
        user = find_by_identifier(run.context.get("identifier_kind", "email"), attempt.identifier)
        password_authenticator = authenticators.get("password")
        credential = password_authenticator.credential(user)
        if not attempt.admitted:
            return attempt.throttled(run)
        if credential is None or modes.sync_source(user) is not None:
            return Done("no_credential")  # the legacy step, or the decoy, checks a hash
        attempt.checked = True
        matches = password_authenticator.verify(credential, attempt.password)
        if sources := modes.shadow_sources(user):
            shadow.compare(sources, user.id, attempt.identifier,
                           run.transient.get("typed_identifier"), attempt.password,
                           local=matches and user.status == "active")
        if matches and user.status == "active":
            attempt.give_back()
            run.set_user(user, "pwd")
            known_devices.remember(attempt.identifier)
            record("signin.password", user_id=user.id, client_id=run.client_id)
            return Done("success")
        # A disabled user reads like a wrong password, and the attempt counts all the same.
        record("signin.failed", user_id=user.id, client_id=run.client_id,
               reason="wrong_password" if not matches else f"user_{user.status}")
        return Done("failure", wrong_credentials_notice())
