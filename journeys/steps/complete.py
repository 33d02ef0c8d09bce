"""``complete``: the user is known; start their Ferry session and hand back to the app.

Terminal. With an app's authorization request in the run, redirects to the app with a code
(or first to the consent page when the app must ask);
without one (someone opened Ferry directly), shows the account page.
"""

from __future__ import annotations

from flask import url_for

from journeys.errors import JourneyBroken
from journeys.results import Redirect, Result
from journeys.steps.base import Step
from provider.authorization import finish
from users import sessions


class CompleteStep(Step):
    type = "complete"
    terminal = True

    def enter(self, run) -> Result:
        user = run.user
        if user is None or user.status != "active":
            raise JourneyBroken(f"{self.journey}.{self.name}: reached without a signed-in user")
        user_session = sessions.sign_in(user, amr=list(run.context.get("amr", [])))
        run.finish()
        authorize = run.context.get("authorize")
        if authorize:
            return Redirect(finish(authorize, user, user_session))
        return Redirect(url_for("account.home"))
