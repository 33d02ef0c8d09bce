"""``account_page``: finish the run and go back to the account page (terminal).

For journeys that change a signed-in user's account (``add-passkey``, ``change-password``,
``change-email``); the last step's notice is shown there: unlike ``complete``,
it starts no new Ferry session and answers no app.
"""

from __future__ import annotations

from flask import flash, url_for

from journeys.results import Redirect, Result
from journeys.steps.base import Step


class AccountPageStep(Step):
    type = "account_page"
    terminal = True

    def enter(self, run) -> Result:
        notice = run.pop_notice()
        if notice:
            flash(notice)  # "Your e-mail address is now ...", shown on the account page
        run.finish()
        return Redirect(url_for("account.home"))
