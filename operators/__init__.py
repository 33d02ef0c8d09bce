"""Operators: the admin portal's own accounts, separate from end users.

* ``accounts.py``: admin accounts (``viewer`` or ``admin``), their password (argon2id),
  disabling them and forgetting their passkeys;
* ``passkeys.py``: an admin's passkeys, the second half of every portal sign-in (the end
  users' WebAuthn ceremonies, with challenges spent on the server);
* ``sessions.py``: a signed-in admin's session, in a cookie of its own (``cookie.py``: the
  portal's pages, under ``/admin``, get their own session cookie and so their own CSRF token),
  and the ``require(role)`` guard of every portal view;
* ``cli.py``: ``flask --app app ferry admin create|list|disable|reset-passkeys``.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The portal's own session cookie, its record of spent passkey challenges, and the
    ``ferry admin`` commands (they join the ``ferry`` group, which ``connectors`` registers)."""
    from operators import cli, cookie, passkeys  # noqa: F401 (cli adds its commands on import)

    cookie.init_app(app)
    passkeys.install(app)
