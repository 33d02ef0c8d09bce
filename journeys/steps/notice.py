"""``notice``: show a message with one button. Outcome ``continue`` when it is pressed.

Settings: ``title``, ``message``, ``button``. Used for "try again later" pages.
"""

from __future__ import annotations

from flask_babel import gettext as _

from journeys.results import Done, Result
from journeys.steps.base import Step, StepForm, StepSettings


class NoticeSettings(StepSettings):
    title: str
    message: str = ""
    button: str = "Continue"


class NoticeStep(Step):
    type = "notice"
    Settings = NoticeSettings
    settings: NoticeSettings
    outcomes = ("continue",)

    def enter(self, run) -> Result:
        return self.render(
            run, StepForm(formdata=None), title=_(self.settings.title),
            message=_(self.settings.message), button=_(self.settings.button),
        )

    def submit(self, run, form_data) -> Result:
        form = StepForm(formdata=form_data)
        if not form.validate():
            return self.enter(run)
        return Done("continue")
