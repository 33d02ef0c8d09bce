"""``sign_out_elsewhere``: end every other Ferry session of the run's user and revoke their
tokens (as a new password does), for a journey that replaced a way in without a password: a
passkey chosen instead of a new password after "Forgot password?".

Outcome ``done``.
"""

from __future__ import annotations

from journeys.errors import JourneyBroken
from journeys.results import Done, Result
from journeys.steps.base import Step
from security.audit import record
from users import sessions


class SignOutElsewhereStep(Step):
    type = "sign_out_elsewhere"
    outcomes = ("done",)

    def enter(self, run) -> Result:
        user = run.user
        if user is None:
            raise JourneyBroken(f"{self.journey}.{self.name}: reached without a user")
        current = sessions.current()
        keep = current if current is not None and current.user.id == user.id else None
        ended = sessions.secure(user, keep=keep)
        record("sessions.ended_elsewhere", user_id=user.id, client_id=run.client_id,
               sessions_ended=ended)
        return Done("done")
