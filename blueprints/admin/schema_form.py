"""The user schema's form: one row per custom attribute (and an empty row to add one), the
standard attributes' ``required`` boxes; parsed into the ``[schema]`` table, with each problem
put back at its row."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from users.schema import TYPES, UserSchema

#: Empty rows the form offers for new attributes.
NEW_ROWS = 2
_FLAGS = ("required", "unique", "identifier")


@dataclass
class Row:
    """One custom attribute as the form shows it (``index`` names its inputs)."""

    index: int
    name: str = ""
    type: str = "string"
    required: bool = False
    unique: bool = False
    identifier: bool = False
    description: str = ""
    existing: bool = False
    remove: bool = False
    problems: list[str] = field(default_factory=list)

    def spec(self) -> dict[str, Any]:
        """The attribute's table (only what differs from the defaults)."""
        table: dict[str, Any] = {}
        if self.type != "string":
            table["type"] = self.type
        for flag in _FLAGS:
            if getattr(self, flag):
                table[flag] = True
        if self.description:
            table["description"] = self.description
        return table


def rows_of(schema: UserSchema) -> list[Row]:
    """The form's rows for a saved schema, then the empty ones."""
    rows = [Row(index, name, spec.type, spec.required, spec.unique, spec.identifier,
                spec.description, existing=True)
            for index, (name, spec) in enumerate(schema.attributes.items())]
    return rows + [Row(len(rows) + offset) for offset in range(NEW_ROWS)]


def parse(form) -> tuple[dict[str, Any], list[Row], list[str]]:
    """The posted form as a ``[schema]`` table, its rows (as typed) and the form's own problems
    (a duplicate name, an unknown type)."""
    rows: list[Row] = []
    problems: list[str] = []
    try:
        count = min(int(form.get("rows", "0")), 500)
    except ValueError:
        count = 0
    for index in range(count):
        prefix = f"a{index}-"
        row = Row(index, name=form.get(prefix + "name", "").strip(),
                  type=form.get(prefix + "type", "string"),
                  description=form.get(prefix + "description", "").strip(),
                  existing=form.get(prefix + "existing") == "1",
                  remove=form.get(prefix + "remove") == "on",
                  **{flag: form.get(prefix + flag) == "on" for flag in _FLAGS})
        rows.append(row)
    attributes: dict[str, Any] = {}
    for row in rows:
        if row.remove or not row.name:
            if not row.name and (row.description or any(getattr(row, f) for f in _FLAGS)):
                row.problems.append("give the attribute a name")
            continue
        if row.type not in TYPES:
            row.problems.append(f"unknown type {row.type!r}")
        if row.name in attributes:
            row.problems.append(f"{row.name} is declared twice")
        attributes[row.name] = row.spec()
    problems.extend(f"{row.name or 'row ' + str(row.index + 1)}: {p}" for row in rows for p in row.problems)
    table: dict[str, Any] = {}
    required = [name for name in form.getlist("standard_required") if name]
    if required:
        table["required"] = required
    if attributes:
        table["attributes"] = attributes
    shown = [row for row in rows if row.existing or row.name or row.problems]
    shown += [Row(0) for _ in range(NEW_ROWS)]
    for index, row in enumerate(shown):
        row.index = index
    return table, shown, problems


def place(problems: list[str], rows: list[Row]) -> list[str]:
    """Put each ``schema.attributes.<name>...`` problem at its row; the others stay general."""
    by_name = {row.name: row for row in rows if row.name}
    general = []
    for problem in problems:
        head, _sep, message = problem.partition(": ")
        parts = head.split(".")
        if len(parts) >= 3 and parts[:2] == ["schema", "attributes"] and parts[2] in by_name:
            by_name[parts[2]].problems.append(message)
        else:
            general.append(problem)
    return general
