"""The step forms of the journey editor: one per step, generated from its type's ``Settings``
model (the same generator as the connector forms), with a select of targets for each outcome
the type can report and the problems of the last save next to their fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from blueprints.admin import forms
from blueprints.admin.journeys_tables import Placed, settings_fields, step_class
from journeys.steps import registry


def anchor(step: str) -> str:
    """The id of step ``step``'s part of the journey page."""
    return "step-" + "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-" for c in step)


@dataclass(frozen=True)
class Route:
    """One outcome of a step and where it leads (``""``: not routed)."""

    outcome: str
    target: str
    fallback: str | None  # an optional outcome: the outcome whose route it takes unrouted
    known: bool = True  # False: the step type has no such outcome


@dataclass
class StepForm:
    """What the editor shows of one step."""

    name: str
    type: str
    known: bool
    terminal: bool
    fields: list[forms.Field]
    values: dict[str, Any]
    routes: list[Route]
    problems: dict[str, list[str]] = field(default_factory=dict)
    draft: bool = False  # shows what was posted, not what is saved
    new: bool = False  # a step the journey does not have yet

    @property
    def anchor(self) -> str:
        """The id of the step's part of the page."""
        return anchor(self.name)

    @property
    def problem_count(self) -> int:
        """How many problems point at this step."""
        return sum(len(messages) for messages in self.problems.values())

    def field_problems(self, name: str) -> list[str]:
        """The problems of one setting (``on.<outcome>`` for a route)."""
        return self.problems.get(name, [])

    @property
    def general_problems(self) -> list[str]:
        """The problems of the step that no input shows (``type`` and the step as a whole)."""
        shown = {f.name for f in self.fields} | {f"on.{r.outcome}" for r in self.routes}
        return [message for where, messages in self.problems.items() if where not in shown
                for message in messages]


def step_form(name: str, table: dict[str, Any], problems: dict[str, list[str]] | None = None,
              draft: bool = False, new: bool = False) -> StepForm:
    """The form of step ``name`` whose table is ``table``."""
    cls = step_class(table.get("type"))
    routes_written = dict(table.get("on") or {})
    routes: list[Route] = []
    if cls is not None:
        for outcome in cls.outcomes:
            routes.append(Route(outcome, str(routes_written.pop(outcome, "")),
                                cls.optional_outcomes.get(outcome)))
    routes += [Route(str(outcome), str(target), None, known=False)
               for outcome, target in routes_written.items()]
    values = {**(forms.defaults(cls.Settings) if cls else {}), **table}
    return StepForm(name, str(table.get("type", "")), cls is not None,
                    bool(cls and cls.terminal), settings_fields(cls), values, routes,
                    problems or {}, draft, new)


def step_forms(table: dict[str, Any] | None, placed: Placed | None = None,
               draft: StepForm | None = None) -> list[StepForm]:
    """A form per step of ``table``, in the journey's order; ``draft`` replaces (or, when new,
    follows) its step's."""
    placed = placed or Placed()
    found = [step_form(name, step if isinstance(step, dict) else {}, placed.of(name))
             for name, step in ((table or {}).get("steps") or {}).items()]
    if draft is not None:
        draft.problems = draft.problems or placed.of(draft.name)
        found = [draft if form.name == draft.name else form for form in found]
        if draft.new:
            found.append(draft)
    return found


def step_types() -> list[tuple[str, bool]]:
    """Every step type, and whether it ends a journey."""
    registry.discover()
    return [(name, registry.get(name).terminal) for name in registry.types()]
