"""``flask --app app ferry roster ...`` and ``ferry users ...``: the migration's bulk work.

The groups live here; each family of commands is a module of its own that adds itself to one
of them (listed in :data:`COMMAND_MODULES`, imported by :func:`init_app`).
"""

from __future__ import annotations

import importlib

from flask import Flask

from connectors.cli import group

#: The modules whose commands join the groups below (each decorates with ``roster_group`` or
#: ``users_group``).
COMMAND_MODULES: list[str] = ["lifecycle.users_import", "lifecycle.roster_commands",
                              "lifecycle.roster_pull"]


@group.group("roster")
def roster_group() -> None:
    """The roster: the users known at the legacy side (import, pull, export)."""


@group.group("users")
def users_group() -> None:
    """Users in bulk (import a legacy hash export)."""


def init_app(app: Flask) -> None:
    """Import the command modules; the ``ferry`` group itself is registered by connectors."""
    for name in COMMAND_MODULES:
        importlib.import_module(name)
