"""``flask --app app ferry connector-test NAME IDENTIFIER``: try a connector from the shell.

Reads the password from standard input (without echo on a terminal), asks the legacy IDP, and
prints the mapped profile as JSON. Exit status: 0 yes; 1 the legacy IDP refused (wrong
credentials, unknown user, blocked account, or a second factor is required; the reason is
printed); 2 unavailable or misconfigured (the reason is printed). Never prints the password.

For a ``hashes`` connector it first says which format it saw for that user's stored hash
(``stored hash: yescrypt``) and, when Ferry refuses that user because of the record (a format
not enabled, a malformed or unrecognised hash), why, with exit status 1: the refusal the
journey gives that user. It never prints the hash.
"""

from __future__ import annotations

import json
import sys

import click
from flask import Flask
from flask.cli import AppGroup

from connectors.base import PasswordConnector
from connectors.hashes import HashesConnector
from connectors.testing import try_password
from users.identifiers import normalise

group = AppGroup("ferry", help="Ferry operator commands.")


@group.command("connector-test")
@click.argument("name")
@click.argument("identifier")
@click.option("--as-typed", is_flag=True, help="Send IDENTIFIER without normalising it.")
def connector_test(name: str, identifier: str, as_typed: bool) -> None:
    """Check IDENTIFIER's password (from stdin) at connector NAME; print the mapped profile."""
    from flask import current_app

    found = current_app.extensions["ferry.connectors"].get(name)
    if not isinstance(found, PasswordConnector):
        click.echo(f"error: no password connector named {name!r}", err=True)
        sys.exit(2)
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if isinstance(found, HashesConnector):
        _stored_hash(found, identifier, password, as_typed)
    result = try_password(found, identifier, password, as_typed)
    if result.outcome == "unavailable":
        click.echo(f"unavailable: {result.reason}", err=True)
        sys.exit(2)
    if result.outcome == "refused":
        _refused(result.reason)
    click.echo(json.dumps({
        "connector": found.name,
        "subject": result.subject,
        "profile": result.profile,
        "claims": result.claims,
    }, indent=2, sort_keys=True, default=str))


def _stored_hash(connector: HashesConnector, identifier: str, password: str,
                 as_typed: bool) -> None:
    """Say which format the user's stored hash is in; refuse (exit 1) when Ferry cannot use it."""
    # The identifier as try_password sends it to the connector.
    subject = identifier.strip() if as_typed else normalise(
        "email" if "@" in identifier else "username", identifier)
    report = connector.stored_hash_report(subject, password)
    if report is None:
        return
    if report.scheme is not None:
        click.echo(f"stored hash: {report.scheme}", err=True)
    if report.refusal is not None:
        _refused(f"user data invalid: {report.refusal}")


def _refused(reason: str) -> None:
    click.echo(f"refused: {reason}", err=True)
    sys.exit(1)


def init_app(app: Flask) -> None:
    app.cli.add_command(group)
