"""Configuration as code: the whole configuration as TOML, and applying such a file.

Export writes every object (the file's and the store's) with its secrets as the reference
``"secret:keep"``, so the export can go to git and back. Import reads the same format: an
object equal to what runs is left alone; one the configuration file defines must be equal (it is
changed in the file); every other one is created or updated in the store, all in one
transaction. ``"secret:keep"`` keeps the secret held now; ``"env:NAME"`` is kept as a reference
and read from the environment at load. Importing Ferry's own export changes nothing.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import tomli_w

from settings.errors import ConfigError
from settings.file import Deployment
from store import live, objects
from store.kinds import KINDS, SINGLETON, is_secret
from store.objects import KEEP, Change, Invalid


def _with_references(data: dict[str, Any]) -> dict[str, Any]:
    return {field: KEEP if is_secret(field, value) and not value.startswith("env:") else value
            for field, value in data.items()}


def current_objects() -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    """Every object that runs: ``(kind, name) -> (source, plain data)``."""
    found: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    for row in objects.all_objects():
        found[(row.kind, row.name)] = ("store", objects.plain(row.data))
    base = live.file_deployment()
    for kind_name, kind in KINDS.items():
        tables = getattr(base, kind_name)
        if kind.named:
            for name, data in tables.items():
                found[(kind_name, name)] = ("file", data)
        elif tables:
            found[(kind_name, SINGLETON)] = ("file", tables)
    return found


def export_toml() -> str:
    """The whole configuration as TOML, secrets as references."""
    tables: dict[str, Any] = {}
    read_only = []
    for (kind_name, name), (source, data) in sorted(current_objects().items()):
        if source == "file":
            read_only.append(f"{kind_name}.{name}")
        value = _with_references(data)
        if KINDS[kind_name].named:
            tables.setdefault(kind_name, {})[name] = value
        else:
            tables[kind_name] = value
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = [f"# Ferry configuration, exported {stamp} (store revision {objects.revision()}).",
              '# Secrets read "secret:keep": importing keeps the secret Ferry holds.']
    if read_only:
        header.append("# From the configuration file (read-only in the store): "
                      + ", ".join(read_only))
    return "\n".join(header) + "\n\n" + tomli_w.dumps(tables)


@dataclass(frozen=True)
class Plan:
    """What an import would do: the changes, and a diff a person can read."""

    changes: list[Change]
    diff: str
    unchanged: int


def _resolve(data: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    resolved = dict(data)
    for field, value in data.items():
        if value == KEEP and current is not None and field in current:
            resolved[field] = current[field]
    return resolved


def _text(data: dict[str, Any] | None) -> list[str]:
    if data is None:
        return []
    return tomli_w.dumps(objects.redacted(data) or {}).splitlines(keepends=True)


def plan(text: str, source: str = "import", prune: bool = False) -> Plan:
    """Read an exported TOML ``text`` and work out its changes; Invalid names each problem
    (a TOML error with its line, a table of the wrong shape, a read-only object changed)."""
    try:
        tables = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise Invalid(f"{source}: not valid TOML: {error}") from None
    unknown = [key for key in tables if key not in KINDS and key != "ferry"]
    if unknown:
        raise Invalid([f"{source}: {key}: unknown table (expected {', '.join(KINDS)})"
                       for key in unknown])
    try:
        Deployment.from_tables({k: v for k, v in tables.items() if k in KINDS}, source)
    except ConfigError as error:
        raise Invalid(error.problems) from None
    wanted: dict[tuple[str, str], dict[str, Any]] = {}
    for kind_name, kind in KINDS.items():
        if kind_name not in tables:
            continue
        if kind.named:
            wanted.update({(kind_name, name): data for name, data in tables[kind_name].items()})
        else:
            wanted[(kind_name, SINGLETON)] = tables[kind_name]
    running = current_objects()
    changes, diff, unchanged, problems = [], [], 0, []
    for key, data in sorted(wanted.items()):
        source_now, now = running.get(key, (None, None))
        resolved = _resolve(data, now)
        if resolved == now:
            unchanged += 1
            continue
        label = f"{key[0]}.{key[1]}"
        if source_now == "file":
            problems.append(f"{label} is defined in the configuration file: change it there")
            continue
        changes.append(Change(key[0], key[1], data, None))
        diff.extend(difflib.unified_diff(_text(now), _text(resolved), f"{label} (now)",
                                         f"{label} ({source})"))
    if prune:
        for key, (source_now, now) in sorted(running.items()):
            if source_now == "store" and key not in wanted:
                changes.append(Change(key[0], key[1], None, None))
                diff.extend(difflib.unified_diff(_text(now), [], f"{key[0]}.{key[1]} (now)",
                                                 "(deleted)"))
    if problems:
        raise Invalid(problems)
    return Plan(changes, "".join(diff), unchanged)
