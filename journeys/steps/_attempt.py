"""What every password-checking step does first: find the attempt, respect the throttle."""

from __future__ import annotations

from flask_babel import gettext as _

from journeys.results import Done
from journeys.steps.messages import throttled_notice
from security.throttle import throttle

#: Failures of every password step count against one budget per identifier.
THROTTLE_SCOPE = "password"


def password_attempt(run, missing_outcome: str) -> tuple[str, str] | Done:
    """``(identifier, password)`` of this request, or the ``Done`` to return instead."""
    identifier = run.context.get("identifier")
    password = run.transient.get("password")
    if not identifier or password is None:
        # The password lives for one request only; a reload lands here.
        return Done(missing_outcome, _("Please enter your details again."))
    wait = throttle().retry_after(THROTTLE_SCOPE, identifier)
    if wait:
        return Done("throttled", throttled_notice(wait))
    return identifier, password


def count_failure(identifier: str) -> None:
    throttle().failed(THROTTLE_SCOPE, identifier)
