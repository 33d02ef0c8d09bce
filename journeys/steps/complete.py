"""``complete``: the user is known; start their Ferry session and hand back to the app.

Terminal. With an app's authorization request in the run, redirects to the app with a code
(or first to the consent page when the app must ask);
without one (someone opened Ferry directly), shows the account page.

Every sign-in passes here, whatever proved it (password, code, passkey, PIN, federation, a new
account), so this is where the browser becomes a *known device* for the identifier it signed in
with and for the user's address (:mod:`security.known_devices`): its later code sends to them
draw on a budget of its own.
"""

from __future__ import annotations

from flask import url_for

from journeys.errors import JourneyBroken
from journeys.results import Redirect, Result
from journeys.steps.base import Step
from provider.authorization import finish
from security import known_devices
from users import sessions


class CompleteStep(Step):
    type = "complete"
    terminal = True

    def enter(self, run) -> Result:
        user = run.user
        if user is None or user.status != "active":
            raise JourneyBroken(f"{self.journey}.{self.name}: reached without a signed-in user")
        user_session = sessions.sign_in(user, amr=list(run.context.get("amr", [])))
        for identifier in dict.fromkeys((run.context.get("identifier"), user.email)):
            if identifier:
                known_devices.remember(identifier)
        run.finish()
        authorize = run.context.get("authorize")
        if authorize:
            return Redirect(finish(authorize, user, user_session))
        return Redirect(url_for("account.home"))
