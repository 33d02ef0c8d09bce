"""``session_user``: the user already signed in to Ferry, for journeys that change their account.

Settings: ``max_age`` (seconds, default 600): the Ferry session's sign-in must be this recent,
as for any change to how someone signs in. Outcomes: ``found`` (the run knows the user; no
``amr`` is added, nothing was proved now) and ``reauthenticate`` (no session, or an older one).
"""

from __future__ import annotations

import time

from pydantic import Field

from journeys.results import Done, Result
from journeys.steps.base import Step, StepSettings
from users import sessions


class SessionUserSettings(StepSettings):
    max_age: int = Field(600, ge=30)


class SessionUserStep(Step):
    type = "session_user"
    Settings = SessionUserSettings
    settings: SessionUserSettings
    outcomes = ("found", "reauthenticate")

    def enter(self, run) -> Result:
        current = sessions.current()
        if current is None or current.user.status != "active":
            return Done("reauthenticate")
        if time.time() - current.auth_time > self.settings.max_age:
            return Done("reauthenticate")
        run.set_user(current.user)
        return Done("found")
