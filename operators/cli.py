"""``flask --app app ferry admin ...``: admin accounts from the shell.

``create EMAIL [--role admin|viewer]`` (the password is asked twice, hidden, never taken from
the command line where ``ps`` and the shell history would keep it, and must pass the password
policy), ``list``, ``disable EMAIL`` (its sessions end at once), ``reset-passkeys EMAIL`` (a
lost passkey: the next sign-in enrols a new one after the password). A refusal says why on
stderr and exits with status 1.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click
from flask import current_app

from connectors.cli import group
from models import AdminAccount, AdminPasskey, db
from operators import accounts
from security.audit import record
from security.password_policy import policy
from users.identifiers import normalise


@group.group("admin")
def admin_group() -> None:
    """The admin portal's accounts."""


def _refuse(message: str) -> NoReturn:
    click.echo(f"refused: {message}", err=True)
    sys.exit(1)


def _address_problem(email: str) -> str | None:
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain.strip(".") or any(c.isspace() for c in email):
        return f"{email!r} is not an e-mail address"
    if len(email) > 320:
        return "an e-mail address has 320 characters at most"
    return None


@admin_group.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(accounts.ROLES), default="admin", show_default=True,
              help="viewer: may look at everything; admin: may also change it.")
def create_command(email: str, role: str) -> None:
    """Make an admin account (the password is asked twice); its first sign-in enrols a passkey."""
    email = normalise("email", email)
    problem = _address_problem(email)
    if problem:
        _refuse(problem)
    with db.connection_context():
        if accounts.find(email) is not None:
            _refuse(f"an admin {email} exists already")
    password = click.prompt("Password", hide_input=True, confirmation_prompt=True,
                            err=True)
    rules = policy()
    problems = rules.problems(password, (email,))
    if problems:
        _refuse(" ".join(rules.message(found) for found in problems))
    with db.connection_context():
        try:
            admin = accounts.create(email, password, role)  # type: ignore[arg-type]
        except accounts.AdminExists:
            _refuse(f"an admin {email} exists already")
        record("admin.account_created", admin=admin.email, role=admin.role, by="cli")
    login = current_app.config["ISSUER"].rstrip("/") + "/admin/login"
    click.echo(f"created {admin.email} ({admin.role}); sign in at {login} with the password, "
               "then create the account's passkey there")


@admin_group.command("list")
def list_command() -> None:
    """Every admin account, one a line: e-mail, role, state, passkeys, last sign-in."""
    with db.connection_context():
        for admin in AdminAccount.select().order_by(AdminAccount.email):
            keys = AdminPasskey.select().where(AdminPasskey.admin == admin).count()
            state = "disabled" if admin.disabled_at else "active"
            last = f"{admin.last_signin_at:%Y-%m-%d %H:%M} UTC" if admin.last_signin_at else "never"
            click.echo(f"{admin.email}\t{admin.role}\t{state}\t{keys} passkeys\tlast sign-in {last}")


def _admin(email: str) -> AdminAccount:
    admin = accounts.find(email)
    if admin is None:
        _refuse(f"no admin {normalise('email', email)}")
    return admin


@admin_group.command("disable")
@click.argument("email")
def disable_command(email: str) -> None:
    """Disable an admin account and end its sessions."""
    with db.connection_context():
        admin = _admin(email)
        accounts.disable(admin)
        record("admin.account_disabled", admin=admin.email, by="cli")
    click.echo(f"disabled {admin.email}; its sessions ended")


@admin_group.command("reset-passkeys")
@click.argument("email")
def reset_passkeys_command(email: str) -> None:
    """Forget an admin's passkeys (lost device); the next sign-in enrols a new one."""
    with db.connection_context():
        admin = _admin(email)
        count = accounts.reset_passkeys(admin)
        record("admin.passkeys_reset", admin=admin.email, passkeys=count, by="cli")
    click.echo(f"{count} passkeys of {admin.email} forgotten and its sessions ended; the next "
               "sign-in asks for the password, then enrols a new passkey")
