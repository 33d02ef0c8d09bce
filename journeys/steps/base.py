"""The step family: what every step type implements.

A step is code, a journey is data. The engine calls :meth:`Step.enter` when the run arrives at
the step and :meth:`Step.submit` when the user posts the step's form; both return a
:class:`~journeys.results.Render`, :class:`~journeys.results.Redirect` or
:class:`~journeys.results.Done`. ``outcomes`` lists every outcome the step can report, so a
journey that forgets to route one fails at start-up rather than in front of a user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from babel.support import Translations
from flask import current_app
from flask_babel import get_locale
from flask_wtf import FlaskForm
from pydantic import BaseModel, ConfigDict, Field
from wtforms import HiddenField
from wtforms.i18n import messages_path

from journeys.results import Render, Result
from plugins import Registry, register_subclass

if TYPE_CHECKING:
    from journeys.run import Run


class StepSettings(BaseModel):
    """Settings every step accepts; a type adds its own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    on: dict[str, str] = Field(default_factory=dict, description="outcome -> next step")


#: WTForms' own messages ("This field is required."), one catalogue per language per process:
#: Flask-WTF would read and parse it from disk again on every request.
_WTFORMS_TRANSLATIONS: dict[str, Translations] = {}


class StepForm(FlaskForm):
    """Base of every step form: CSRF (Flask-WTF) plus the step it was rendered for."""

    step = HiddenField()

    class Meta(FlaskForm.Meta):
        def get_translations(self, form):
            """WTForms' messages in the page's language, loaded once per process."""
            if not current_app.config.get("WTF_I18N_ENABLED", True):
                return super().get_translations(form)
            language = str(get_locale())
            found = _WTFORMS_TRANSLATIONS.get(language)
            if found is None:
                found = Translations.load(messages_path(), [language], domain="wtforms")
                _WTFORMS_TRANSLATIONS[language] = found
            return found


@dataclass
class ValidationContext:
    """What a step may check itself against at start-up."""

    connectors: dict[str, Any] = field(default_factory=dict)
    config: Any = None
    journeys: set[str] = field(default_factory=set)  # names of every journey being loaded


class Step:
    """Base class of step types.

    Example::

        class AgeGateStep(Step):
            type = "age_gate"
            outcomes = ("adult", "minor")

            def enter(self, run):
                return Done("adult" if run.user and run.user.attributes.get("adult") else "minor")
    """

    registry: ClassVar[Registry] = Registry("step", "journeys.steps")
    type: ClassVar[str] = ""
    Settings: ClassVar[type[StepSettings]] = StepSettings
    outcomes: ClassVar[tuple[str, ...]] = ()
    #: Outcomes a journey may leave unrouted, each with the outcome whose route it then takes.
    optional_outcomes: ClassVar[dict[str, str]] = {}
    terminal: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        register_subclass(cls.registry, cls)

    def __init__(self, name: str, settings: StepSettings, journey: str) -> None:
        self.name = name
        self.settings = settings
        self.journey = journey

    @property
    def template(self) -> str:
        return f"steps/{self.type}.html"

    def route(self, outcome: str) -> str | None:
        """The step that follows ``outcome``, honouring optional outcomes' fallbacks."""
        routes = self.settings.on
        if outcome in routes:
            return routes[outcome]
        fallback = self.optional_outcomes.get(outcome)
        return routes.get(fallback) if fallback else None

    def check(self, context: ValidationContext) -> list[str]:
        """Problems with this step's settings beyond their types (e.g. an unknown connector)."""
        return []

    def enter(self, run: Run) -> Result:
        """The run arrives at this step (or the page is reloaded). Must be overridden."""
        raise NotImplementedError

    def submit(self, run: Run, form_data: Any) -> Result:
        """The user posted this step's form. Steps without a form show themselves again."""
        return self.enter(run)

    def render(self, run: Run, form: StepForm | None = None, **context: Any) -> Render:
        if form is not None:
            form.step.data = self.name
        return Render(self.template, form, {"step": self, **context})
