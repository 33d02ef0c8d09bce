"""``reject``: end the journey with a message. Terminal. Settings: ``title``, ``message``."""

from __future__ import annotations

from flask_babel import gettext as _

from journeys.results import Result
from journeys.steps.base import Step, StepSettings


class RejectSettings(StepSettings):
    title: str = "We couldn't sign you in"
    message: str = ""


class RejectStep(Step):
    type = "reject"
    Settings = RejectSettings
    settings: RejectSettings
    terminal = True

    def enter(self, run) -> Result:
        run.finish("rejected")
        result = self.render(run, title=_(self.settings.title), message=_(self.settings.message))
        return result
