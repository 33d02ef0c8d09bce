"""Journeys as data: parsing ``[journeys.<name>]`` tables into steps, and validating them.

A deployment's ``[journeys.<name>]`` with a shipped name is merged into the shipped journey
(only the steps and keys it names change); with ``replace = true`` it replaces it whole.

Validation at load: every step type exists and its settings are valid, every outcome a step can
report is routed, every target exists, and from every step reachable from ``start`` a terminal
step can still be reached (no dead ends, no closed loops).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from journeys.steps import Step, ValidationContext, registry
from settings.errors import ConfigError, pydantic_problems

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")
_JOURNEY_KEYS = {"start", "steps", "title", "description"}


@dataclass(frozen=True)
class Journey:
    name: str
    start: str
    steps: dict[str, Step]
    title: str = ""

    def step(self, name: str) -> Step:
        return self.steps[name]


def default_tables() -> dict[str, dict[str, Any]]:
    return tomllib.loads(DEFAULTS_FILE.read_text(encoding="utf-8"))


def load_journeys(tables: dict[str, dict[str, Any]], context: ValidationContext) -> dict[str, Journey]:
    """Parse and validate the shipped journeys overlaid with the deployment's own."""
    registry.discover()
    merged = default_tables()
    for name, table in tables.items():
        if name in merged and not table.get("replace", False):
            merged[name] = deep_merge(merged[name], table)  # change a shipped journey in place
        else:
            merged[name] = {key: value for key, value in table.items() if key != "replace"}
    context.journeys = set(merged)
    journeys, problems = {}, []
    for name, table in merged.items():
        try:
            journeys[name] = parse_journey(name, table, context)
        except ConfigError as error:
            problems.extend(error.problems)
    if problems:
        raise ConfigError(problems, "journeys")
    return journeys


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` laid over ``base``, tables merged key by key (``replace`` dropped)."""
    merged = dict(base)
    for key, value in override.items():
        if key == "replace":
            continue
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_journey(name: str, table: dict[str, Any], context: ValidationContext) -> Journey:
    where = f"journeys.{name}"
    problems = [f"{where}.{key}: unknown key" for key in table if key not in _JOURNEY_KEYS]
    step_tables = table.get("steps")
    if not isinstance(step_tables, dict) or not step_tables:
        raise ConfigError([*problems, f"{where}.steps: a journey needs at least one step"])
    steps: dict[str, Step] = {}
    for step_name, step_table in step_tables.items():
        step_where = f"{where}.steps.{step_name}"
        if not isinstance(step_table, dict):
            problems.append(f"{step_where}: must be a table")
            continue
        type_name = step_table.get("type")
        if type_name not in registry:
            problems.append(
                f"{step_where}.type: unknown step type {type_name!r} "
                f"(known: {', '.join(registry.types())})"
            )
            continue
        cls = registry.get(type_name)
        try:
            settings = cls.Settings(**step_table)
        except ValidationError as error:
            problems.extend(pydantic_problems(error, step_where))
            continue
        step = cls(step_name, settings, name)
        problems.extend(f"{step_where}: {p}" for p in step.check(context))
        steps[step_name] = step
    start = table.get("start")
    if start not in step_tables:
        problems.append(f"{where}.start: {start!r} is not one of its steps")
    problems.extend(_routing_problems(where, steps))
    if not problems and start in steps:
        problems.extend(_reachability_problems(where, start, steps))
    if problems:
        raise ConfigError(problems)
    return Journey(name=name, start=start, steps=steps, title=table.get("title", ""))


def _routing_problems(where: str, steps: dict[str, Step]) -> list[str]:
    problems = []
    for name, step in steps.items():
        routes = step.settings.on
        for outcome, target in routes.items():
            if outcome not in step.outcomes:
                problems.append(
                    f"{where}.steps.{name}.on.{outcome}: {step.type} has no such outcome "
                    f"(it has: {', '.join(step.outcomes) or 'none'})"
                )
            if target not in steps:
                problems.append(f"{where}.steps.{name}.on.{outcome}: no step named {target!r}")
        for outcome in step.outcomes:
            if outcome not in routes and outcome not in step.optional_outcomes:
                problems.append(f"{where}.steps.{name}.on: outcome {outcome!r} is not routed")
    return problems


def _reachability_problems(where: str, start: str, steps: dict[str, Step]) -> list[str]:
    reachable, frontier = {start}, [start]
    while frontier:
        for target in steps[frontier.pop()].settings.on.values():
            if target not in reachable:
                reachable.add(target)
                frontier.append(target)
    # Walk backwards from the terminal steps: what can still finish?
    can_finish = {name for name, step in steps.items() if step.terminal}
    changed = True
    while changed:
        changed = False
        for name, step in steps.items():
            if name not in can_finish and any(t in can_finish for t in step.settings.on.values()):
                can_finish.add(name)
                changed = True
    if not can_finish & reachable:
        return [f"{where}: no terminal step (complete, reject) is reachable from {start!r}"]
    stuck = sorted(reachable - can_finish)
    return [f"{where}.steps.{name}: no terminal step is reachable from here" for name in stuck]
