"""``reject``: end the journey with a message. Terminal. Settings: ``title``, ``message``."""

from __future__ import annotations

from journeys.results import Result
from journeys.steps.base import Step, StepSettings
from journeys.steps.messages import N_, configured


class RejectSettings(StepSettings):
    title: str = N_("We couldn't sign you in")
    message: str = ""


class RejectStep(Step):
    type = "reject"
    Settings = RejectSettings
    settings: RejectSettings
    terminal = True

    def enter(self, run) -> Result:
        run.finish("rejected")
        result = self.render(run, title=configured(self.settings.title),
                             message=configured(self.settings.message))
        return result
