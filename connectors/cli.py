"""``flask --app app ferry connector-test NAME IDENTIFIER``: try a connector from the shell.

Reads the password from standard input (without echo on a terminal), asks the legacy IDP, and
prints the mapped profile as JSON. Exit status: 0 yes; 1 the legacy IDP refused (wrong
credentials, unknown user, blocked account, or a second factor is required; the reason is
printed); 2 unavailable or misconfigured (the reason is printed). Never prints the password.
"""

from __future__ import annotations

import json
import sys

import click
from flask import Flask
from flask.cli import AppGroup

from connectors.base import (
    AccountBlocked,
    InvalidCredentials,
    LegacyUnavailable,
    MfaRequired,
    PasswordConnector,
    UserNotFound,
)
from users.identifiers import normalise
from users.mapping import map_claims

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
    subject = identifier.strip() if as_typed else normalise("email" if "@" in identifier
                                                            else "username", identifier)
    try:
        identity = found.check_password(subject, password)
    except UserNotFound:
        _refused("unknown user")
    except InvalidCredentials:
        _refused("wrong credentials (or unknown user)")
    except AccountBlocked as blocked:
        _refused(f"account blocked: {blocked.reason}")
    except MfaRequired as challenge:
        _refused(f"the password is right, but a second factor is required ({challenge.factor})")
    except LegacyUnavailable as error:
        click.echo(f"unavailable: {error.reason}", err=True)
        sys.exit(2)
    click.echo(json.dumps({
        "connector": identity.connector,
        "subject": identity.subject,
        "profile": map_claims(identity.claims, found.mapping),
        "claims": identity.claims,
    }, indent=2, sort_keys=True, default=str))


def _refused(reason: str) -> None:
    click.echo(f"refused: {reason}", err=True)
    sys.exit(1)


def init_app(app: Flask) -> None:
    app.cli.add_command(group)
