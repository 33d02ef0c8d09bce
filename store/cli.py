"""``flask --app app ferry export`` / ``import`` / ``store rotate-keys``: configuration as code.

``export [-o FILE]`` writes the whole configuration as TOML (secrets as ``"secret:keep"``).
``import FILE [--dry-run] [--prune]`` applies such a file atomically and idempotently: the diff
is printed; ``--dry-run`` changes nothing; ``--prune`` also deletes the store's objects the file
does not name. Exit status: 0 done (or nothing to do), 1 refused (every problem is printed, each
naming its place; nothing was changed).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask

from connectors.cli import group
from store import exchange, objects
from store.objects import StoreError


@group.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of standard output.")
def export_command(output: Path | None) -> None:
    """Write the whole configuration as TOML."""
    text = exchange.export_toml()
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


@group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print the changes; change nothing.")
@click.option("--prune", is_flag=True, help="Also delete store objects FILE does not name.")
def import_command(file: Path, dry_run: bool, prune: bool) -> None:
    """Apply a configuration exported by `ferry export` (or written by hand)."""
    import store

    try:
        planned = exchange.plan(file.read_text(encoding="utf-8"), str(file), prune=prune)
    except StoreError as error:
        _refused(error)
    if planned.diff:
        click.echo(planned.diff, nl=not planned.diff.endswith("\n"))
    summary = f"{len(planned.changes)} to change, {planned.unchanged} unchanged"
    if dry_run or not planned.changes:
        click.echo(f"{summary}{' (dry run: nothing changed)' if dry_run else ''}", err=True)
        return
    try:
        revision = store.apply(planned.changes, actor=f"cli:import {file.name}")
    except StoreError as error:
        _refused(error)
    click.echo(f"{summary}; store revision {revision} (live on every server within seconds)",
               err=True)


@group.group("store")
def store_group() -> None:
    """The configuration store's upkeep."""


@store_group.command("rotate-keys")
def rotate_keys_command() -> None:
    """Seal every secret again under the first key of store_keys."""
    click.echo(f"{objects.rotate_keys()} secrets sealed under the first key", err=True)


def _refused(error: StoreError) -> None:
    click.echo("refused; nothing was changed:", err=True)
    for problem in error.problems:
        click.echo(f"  - {problem}", err=True)
    sys.exit(1)


def init_app(app: Flask) -> None:
    """The commands join the ``ferry`` group (registered by :mod:`connectors.cli`)."""
