"""``switch``: go on in another journey (for example "Sign in another way").

Setting ``journey``: the journey to continue in, from its first step. The run keeps the app's
authorization request and the identifier when one was typed; who the user is (``user_id``,
``amr``, a legacy identity) does not carry over: the new journey proves it itself. Terminal for
the journey it leaves, so it needs no ``on``.
"""

from __future__ import annotations

from journeys.results import Result, Switch
from journeys.steps.base import Step, StepSettings, ValidationContext


class SwitchSettings(StepSettings):
    journey: str


class SwitchStep(Step):
    type = "switch"
    Settings = SwitchSettings
    settings: SwitchSettings
    terminal = True

    def check(self, context: ValidationContext) -> list[str]:
        if context.journeys and self.settings.journey not in context.journeys:
            return [f"journey: no journey named {self.settings.journey!r}"]
        if self.settings.journey == self.journey:
            return ["journey: a journey cannot switch to itself"]
        return []

    def enter(self, run) -> Result:
        return Switch(self.settings.journey)
