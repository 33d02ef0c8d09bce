"""Journeys as the portal edits them: tables, not HTTP.

A journey's *effective* table is what runs: Ferry's shipped table with the store's overlay laid
over it (``deep_merge``, as ``ferry.toml`` does), or the store's own table for a journey Ferry
does not ship. The step forms change the effective table; :func:`store_data` turns the result
back into the smallest overlay that gives it (or into a whole journey with ``replace = true``
when something the shipped journey has must go).

Problems come back from the store as ``journeys.<name>.steps.<step>.<field>: message`` (or
``journeys.<name>.steps.<step>: <field>: message`` from a step's own checks); :func:`place`
sorts them by step and field, and :func:`listing` numbers the TOML text's lines with each
step's problems at the line that opens the step.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

import store
from blueprints.admin import forms
from journeys.definition import deep_merge, default_tables
from journeys.steps import registry
from store import live

#: A new journey made from nothing: a sign-in with Ferry's own passwords only.
STARTER: dict[str, Any] = {
    "title": "New journey",
    "start": "collect",
    "steps": {
        "collect": {"type": "collect", "on": {"submitted": "local"}},
        "local": {"type": "local_password", "on": {
            "success": "done", "failure": "collect", "no_credential": "collect",
            "throttled": "collect"}},
        "done": {"type": "complete"},
    },
}
STEP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_AT_LINE = re.compile(r"at line (\d+)")


def shipped(name: str) -> dict[str, Any] | None:
    """Ferry's own table of journey ``name`` (None: Ferry ships no such journey)."""
    table = default_tables().get(name)
    return copy.deepcopy(table) if table is not None else None


def overlay(name: str) -> tuple[dict[str, Any] | None, str | None]:
    """What the file or the store lays over (or adds as) journey ``name``, and from where."""
    in_file = live.file_deployment().journeys.get(name)
    if in_file is not None:
        return copy.deepcopy(in_file), "file"
    view = store.view("journeys", name)
    return (copy.deepcopy(view.data), "store") if view else (None, None)


def effective(name: str) -> dict[str, Any] | None:
    """The table journey ``name`` runs (None: there is no such journey)."""
    base, (laid, _source) = shipped(name), overlay(name)
    if laid is None:
        return base
    if base is None or laid.get("replace"):
        return {key: value for key, value in laid.items() if key != "replace"}
    return deep_merge(base, laid)


def sources(name: str) -> list[str]:
    """Where journey ``name`` comes from: ``shipped``, ``file``, ``store`` (in that order)."""
    found = ["shipped"] if name in default_tables() else []
    laid, source = overlay(name)
    if source:
        found.append(source)
    return found


def overlay_for(base: dict[str, Any], target: dict[str, Any]) -> dict[str, Any] | None:
    """The smallest table ``deep_merge(base, table) == target``; None when ``target`` lacks
    something ``base`` has (an overlay can add and change, never remove)."""
    if any(key not in target for key in base):
        return None
    found: dict[str, Any] = {}
    for key, value in target.items():
        if key not in base:
            found[key] = value
        elif isinstance(value, dict) and isinstance(base[key], dict):
            inner = overlay_for(base[key], value)
            if inner is None:
                return None
            if inner:
                found[key] = inner
        elif value != base[key]:
            found[key] = value
    return found


def store_data(name: str, target: dict[str, Any]) -> dict[str, Any]:
    """What the store must hold for journey ``name`` to run as ``target``."""
    base = shipped(name)
    if base is None:
        return target
    laid, _source = overlay(name)
    smallest = overlay_for(base, target)
    if smallest is None or (laid or {}).get("replace"):
        return {**target, "replace": True}
    return smallest


def step_class(type_name: Any):
    """The step class of ``type_name``, or None for an unknown type."""
    registry.discover()
    return registry.get(type_name) if type_name in registry else None


def settings_fields(cls) -> list[forms.Field]:
    """The inputs of a step type's own settings (``type`` and ``on`` have their own)."""
    return forms.describe(cls.Settings, exclude=("type", "on")) if cls else []


def step_from_form(form, cls, current: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, str]]:
    """The step table a posted step form describes, and the values it could not read.

    A setting equal to the type's default is left out unless the step wrote it before, so an
    overlay stays small and a shipped value can still be set back to the default.
    """
    current = current or {}
    fields = settings_fields(cls)
    data, problems = forms.parse(form, fields, current)
    defaults = forms.defaults(cls.Settings)
    data = {key: value for key, value in data.items() if value is not None  # TOML has no null
            and (key in current or value != defaults.get(key, object()))}
    routes = {outcome: form.get(f"on.{outcome}") for outcome in cls.outcomes
              if form.get(f"on.{outcome}")}
    table: dict[str, Any] = {"type": cls.type, **data}
    if routes:
        table["on"] = routes
    return table, problems


@dataclass
class Placed:
    """Problems sorted by where they belong."""

    steps: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # step -> field -> messages
    journey: list[str] = field(default_factory=list)  # this journey's own (start, no end...)
    other: list[str] = field(default_factory=list)  # elsewhere in the deployment

    def add(self, step: str, field_name: str, message: str) -> None:
        """File ``message`` under ``step`` and ``field_name`` (``""``: the step as a whole)."""
        self.steps.setdefault(step, {}).setdefault(field_name, []).append(message)

    def of(self, step: str) -> dict[str, list[str]]:
        """The problems of ``step`` by field."""
        return self.steps.get(step, {})

    def __bool__(self) -> bool:
        return bool(self.steps or self.journey or self.other)


def _field_of(rest: str, step_table: dict[str, Any]) -> tuple[str, str]:
    """(field, message) of what follows ``...steps.<step>`` in a problem."""
    if rest.startswith("."):
        where, _sep, message = rest[1:].partition(": ")
    else:
        message = rest.removeprefix(": ")
        where, sep, tail = message.partition(": ")
        cls = step_class(step_table.get("type"))
        known = {f.name for f in settings_fields(cls)} | {"on", "type"}
        if not sep or where not in known:
            return "", message
        message = tail
    where = where.split("[")[0]
    routed = re.search(r"outcome '([^']+)'", message)
    if where == "on" and routed:
        where = f"on.{routed.group(1)}"
    parts = where.split(".")
    return ".".join(parts[:2]) if parts[0] == "on" else parts[0], message


def place(name: str, problems: list[str], table: dict[str, Any] | None) -> Placed:
    """Sort the store's ``problems`` for journey ``name`` (whose table is ``table``)."""
    placed = Placed()
    steps = (table or {}).get("steps") or {}
    prefix = f"journeys.{name}.steps."
    names = sorted((str(step) for step in steps), key=len, reverse=True)  # "a-b" before "a"
    for problem in problems:
        if problem.startswith(prefix):
            rest = problem[len(prefix):]
            step = next((s for s in names
                         if rest.startswith(s) and rest[len(s):len(s) + 1] in (".", ":")), None)
            if step is not None:
                placed.add(step, *_field_of(rest[len(step):], steps.get(step) or {}))
                continue
        if problem.startswith(f"journeys.{name}.") or problem.startswith(f"journeys.{name}:"):
            placed.journey.append(problem)
        else:
            placed.other.append(problem)
    return placed


def _keys(dotted: str) -> list[str]:
    """The keys of a dotted TOML key (``steps."b c".on`` -> steps, b c, on)."""
    return [next(part for part in found if part)
            for found in re.findall(r'"([^"]*)"|\'([^\']*)\'|([^.\s"\']+)', dotted)]


def step_lines(text: str, steps: list[str]) -> dict[str, int]:
    """The line (1-based) where each step's table opens in TOML ``text``."""
    found: dict[str, int] = {}
    table: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        header = re.match(r"\s*\[\s*([^\]]+?)\s*\]", line)
        key = re.match(r"\s*([^=\[]+?)\s*=", line)
        if header:
            table = _keys(header.group(1))
            path = table
        elif key:
            path = table + _keys(key.group(1))
        else:
            continue
        if len(path) >= 2 and path[0] == "steps" and path[1] in steps and path[1] not in found:
            found[path[1]] = number
    return found


@dataclass(frozen=True)
class Line:
    """One line of the TOML view, with the problems that point at it."""

    number: int
    text: str
    problems: tuple[str, ...] = ()


def listing(text: str, placed: Placed | None, syntax_error: str | None = None) -> list[Line]:
    """``text`` line by line, each step's problems at the line that opens it (and a TOML
    syntax error at its line)."""
    placed = placed or Placed()
    at: dict[int, list[str]] = {}
    for step, line in step_lines(text, list(placed.steps)).items():
        at.setdefault(line, []).extend(f"{step}{'.' + f if f else ''}: {m}"
                                       for f, messages in placed.of(step).items() for m in messages)
    if syntax_error and (found := _AT_LINE.search(syntax_error)):
        at.setdefault(int(found.group(1)), []).append(syntax_error)
    return [Line(number, line, tuple(at.get(number, ())))
            for number, line in enumerate(text.splitlines() or [""], start=1)]


def syntax_line(message: str) -> int | None:
    """The line a TOML syntax error names."""
    found = _AT_LINE.search(message)
    return int(found.group(1)) if found else None
