"""Reading the TOML configuration file and resolving secret references.

A string value ``"env:NAME"`` anywhere in the file is replaced by the environment variable
``NAME`` at load time, so the file can live in git without its secrets.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from settings.errors import ConfigError

_TABLES = ("ferry", "connectors", "journeys", "apps", "schema", "branding")


@dataclass(frozen=True)
class Deployment:
    """The raw deployment tables; each package validates its own (connectors, journeys...)."""

    connectors: dict[str, dict[str, Any]] = field(default_factory=dict)
    journeys: dict[str, dict[str, Any]] = field(default_factory=dict)
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)
    schema: dict[str, Any] = field(default_factory=dict)
    branding: dict[str, Any] = field(default_factory=dict)  # validated by skin.settings
    source: str = "defaults"

    @classmethod
    def from_tables(cls, tables: dict[str, Any], source: str) -> Deployment:
        problems = []
        for name in ("connectors", "journeys", "apps"):
            value = tables.get(name, {})
            if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
                problems.append(f"{name}: must be a table of tables ([{name}.<name>])")
        for name in ("schema", "branding"):
            if not isinstance(tables.get(name, {}), dict):
                problems.append(f"{name}: must be a table")
        if problems:
            raise ConfigError(problems, source)
        return cls(
            connectors=dict(tables.get("connectors", {})),
            journeys=dict(tables.get("journeys", {})),
            apps=dict(tables.get("apps", {})),
            schema=dict(tables.get("schema", {})),
            branding=dict(tables.get("branding", {})),
            source=source,
        )


def read_config_file(path: Path | None, required: bool) -> tuple[dict[str, Any], Deployment]:
    """Return the ``[ferry]`` settings and the deployment tables of the file at ``path``."""
    if path is None or not path.exists():
        if required and path is not None:
            raise ConfigError(f"configuration file {path} does not exist (FERRY_CONFIG)")
        return {}, Deployment()
    try:
        tables = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"not valid TOML: {error}", str(path)) from None
    problems = [f"{key}: unknown table (expected one of {', '.join(_TABLES)})"
                for key in tables if key not in _TABLES]
    tables = resolve_secret_references(tables, problems, where="")
    if problems:
        raise ConfigError(problems, str(path))
    server = tables.get("ferry", {})
    if not isinstance(server, dict):
        raise ConfigError("ferry: must be a table", str(path))
    return dict(server), Deployment.from_tables(tables, source=str(path))


def resolve_secret_references(value: Any, problems: list[str], where: str) -> Any:
    """Replace every ``env:NAME`` string with the value of that environment variable."""
    if isinstance(value, dict):
        return {key: resolve_secret_references(item, problems, f"{where}.{key}".lstrip("."))
                for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_secret_references(item, problems, f"{where}[{index}]")
                for index, item in enumerate(value)]
    if isinstance(value, str) and value.startswith("env:"):
        name = value[4:]
        if name not in os.environ:
            problems.append(f"{where}: environment variable {name} is not set")
            return ""
        return os.environ[name]
    return value
