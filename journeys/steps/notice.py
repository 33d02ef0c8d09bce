"""``notice``: show a message with one button. Outcome ``continue`` when it is pressed.

Settings: ``title``, ``message``, ``button``. Used for "try again later" pages.
"""

from __future__ import annotations

from journeys.results import Done, Result
from journeys.steps.base import Step, StepForm, StepSettings
from journeys.steps.messages import N_, configured


class NoticeSettings(StepSettings):
    title: str
    message: str = ""
    button: str = N_("Continue")


class NoticeStep(Step):
    type = "notice"
    Settings = NoticeSettings
    settings: NoticeSettings
    outcomes = ("continue",)

    def enter(self, run) -> Result:
        return self.render(
            run, StepForm(formdata=None), title=configured(self.settings.title),
            message=configured(self.settings.message), button=configured(self.settings.button),
        )

    def submit(self, run, form_data) -> Result:
        form = StepForm(formdata=form_data)
        if not form.validate():
            return self.enter(run)
        return Done("continue")
