"""Authenticators: the ways a migrated user proves who they are to Ferry alone.

One module per type (``password`` now; ``passkey``, ``pin`` and ``otp`` follow), each a
subclass of :class:`authenticators.base.Authenticator`.
"""

from __future__ import annotations

from flask import Flask, current_app

from authenticators.base import Authenticator

registry = Authenticator.registry


def init_app(app: Flask) -> None:
    """Create one instance of every authenticator type for this app."""
    registry.discover()
    app.extensions["ferry.authenticators"] = {
        name: registry.get(name).from_config(app.config) for name in registry.types()
    }


def get(type_name: str) -> Authenticator:
    return current_app.extensions["ferry.authenticators"][type_name]
