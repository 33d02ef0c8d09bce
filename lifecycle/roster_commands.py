"""``flask --app app ferry roster import | export | status``: the roster from the shell.

``import FILE --connector NAME [--format csv|jsonl] [--encoding ENC] [--restart]`` loads a
roster file (see :mod:`lifecycle.roster_import`: streamed, idempotent, resumable). Bad rows are
printed on standard error by line (the first ``--show`` in full, then how many more); the good
rows are kept. Then the entries are tied to the users who already migrated, and a summary is
printed. Exit status: 0 every row was good; 1 some rows were bad (the others are imported);
2 nothing was imported (unknown connector, unreadable file) or the import stopped (the
committed batches are kept: run the same command again to resume); 130 interrupted (likewise).

``export [--remaining | --all] [--connector NAME] [--format csv|jsonl] [-o FILE]`` writes the
entries still without a user (or all of them) with their last known attributes.

``status`` prints migrated and remaining entries per connector.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import peewee
from flask import current_app

import connectors
from lifecycle import roster_export, roster_files, roster_import, stats
from lifecycle.cli import roster_group
from models import RosterEntry, db

#: Where the checkpoints of interrupted imports are kept, under the instance folder.
CHECKPOINT_FOLDER = "roster-imports"


def _fail(message: str, status: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(status)


@roster_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--connector", "connector", required=True, help="The configured connector whose "
              "legacy users FILE lists.")
@click.option("--format", "fmt", type=click.Choice(roster_files.FORMATS),
              help="csv or jsonl (default: from the extension).")
@click.option("--encoding", default="utf-8", show_default=True,
              help="The file's encoding (latin-1, cp1252...); a UTF-8 BOM is skipped.")
@click.option("--restart", is_flag=True, help="Ignore the checkpoint of an interrupted import.")
@click.option("--show", default=20, show_default=True, help="Bad rows to print in full.")
def import_command(file: Path, connector: str, fmt: str | None, encoding: str, restart: bool,
                   show: int) -> None:
    """Import the roster FILE (CSV or JSON Lines) for connector NAME."""
    configured = connectors.instances()
    if connector not in configured:
        _fail(f"no connector named {connector!r} (configured: "
              f"{', '.join(sorted(configured)) or 'none'})")
    printed = [0]

    def report(line: int, problem: str) -> None:
        """Print a bad row while fewer than ``show`` were; count it in any case."""
        printed[0] += 1
        if printed[0] <= show:
            click.echo(f"line {line}: {problem}", err=True)

    with click.progressbar(length=file.stat().st_size, label=f"importing {file.name}",
                           file=sys.stderr) as bar:
        done = [0]

        def progress(offset: int) -> None:
            """Move the bar to the byte ``offset``."""
            bar.update(max(offset - done[0], 0))
            done[0] = max(offset, done[0])

        try:
            with db.connection_context():
                summary = roster_import.import_file(
                    file, connector, checkpoints=Path(current_app.instance_path) / CHECKPOINT_FOLDER,
                    fmt=fmt, encoding=encoding, restart=restart, report=report, progress=progress)
        except roster_files.RosterFileError as error:
            _fail(f"{file.name}: {error}; nothing was imported")
        except KeyboardInterrupt:
            _fail("interrupted; the rows committed so far are kept: run the same command "
                  "again to resume", 130)
        except (peewee.DatabaseError, OSError) as error:
            _fail(f"the import stopped ({error}); the rows committed so far are kept: run the "
                  "same command again to resume")
    if printed[0] > show:
        click.echo(f"... and {printed[0] - show} more bad rows", err=True)
    if summary.resumed_at is not None:
        click.echo(f"resumed at line {summary.resumed_at} (the counts include the earlier run)",
                   err=True)
    click.echo(f"added {summary.added}, updated {summary.updated}, unchanged "
               f"{summary.unchanged}, bad {summary.bad}, matched {summary.matched}")
    sys.exit(1 if summary.bad else 0)


@roster_group.command("export")
@click.option("--remaining", "which", flag_value="remaining", default=True,
              help="Only the entries without a user (the default).")
@click.option("--all", "which", flag_value="all", help="Every entry, migrated or not.")
@click.option("--connector", help="Only this connector's entries.")
@click.option("--format", "fmt", type=click.Choice(roster_export.FORMATS),
              help="csv or jsonl (default: from -o's extension, else csv).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of standard output.")
def export_command(which: str, connector: str | None, fmt: str | None,
                   output: Path | None) -> None:
    """Write the roster's remaining entries (or all) as CSV or JSON Lines."""
    if fmt is None:
        fmt = "jsonl" if output and output.suffix.lower() in (".jsonl", ".ndjson") else "csv"
    with db.connection_context():
        if connector is not None and connector not in connectors.instances() and not (
                RosterEntry.select().where(RosterEntry.connector == connector).exists()):
            _fail(f"no connector named {connector!r} and no roster entries of it")
        remaining = which == "remaining"
        if output is None:
            count = roster_export.write(_Echo(), fmt, connector, remaining)
        else:
            with output.open("w", encoding="utf-8", newline="") as handle:
                count = roster_export.write(handle, fmt, connector, remaining)
    click.echo(f"{count} {'remaining ' if remaining else ''}entries exported", err=True)


class _Echo:
    """Standard output as a text sink, through click.echo."""

    def write(self, text: str) -> None:
        """Echo ``text`` as it is."""
        click.echo(text, nl=False)


@roster_group.command("status")
def status_command() -> None:
    """Print migrated and remaining roster entries per connector."""
    with db.connection_context():
        overall, rows = stats.progress()
    listed = {row.connector for row in rows}
    rows += [stats.ConnectorProgress(name, 0, 0)
             for name in sorted(connectors.instances()) if name not in listed]
    width = max([len("connector"), *(len(row.connector) for row in rows)])
    click.echo(f"{'connector':<{width}}  {'migrated':>9}  {'remaining':>9}  {'total':>9}")
    for row in [*rows, stats.ConnectorProgress("(all)", overall.migrated, overall.remaining)]:
        click.echo(f"{row.connector:<{width}}  {row.migrated:>9}  {row.remaining:>9}  "
                   f"{row.total:>9}")
