"""Journey step types: one module per type, each a subclass of :class:`journeys.steps.base.Step`."""

from journeys.steps.base import Step, StepForm, StepSettings, ValidationContext

registry = Step.registry

__all__ = ["Step", "StepForm", "StepSettings", "ValidationContext", "registry"]
