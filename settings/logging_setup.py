"""Where Ferry's log goes: its packages at ``log_level``, everything else at WARNING, and a
handler on the root logger when nobody else gave it one.

Plain ``gunicorn 'app:create_app()'`` configures its own loggers only, so without a root handler
Ferry's INFO records (the audit log, sign-ins, Redis coming back) would go nowhere, and its
warnings would reach stderr through Python's last-resort handler with no time or level. When the
root logger has a handler already (gunicorn's ``--log-config``, ``logging.basicConfig`` in a
wrapper, pytest's capture) it is left alone, and so are tests.
"""

from __future__ import annotations

import logging

from flask import Flask

#: One line per record: time, level, logger, message.
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Ferry's own top-level packages, logged at ``log_level``.
PACKAGES = ("ferry", "journeys", "connectors", "provider", "blueprints", "security")


def init_app(app: Flask) -> None:
    """Set the levels, and give the root logger one stderr handler if it has none (not in
    tests)."""
    root = logging.getLogger()
    root.setLevel(logging.WARNING)
    for name in PACKAGES:
        logging.getLogger(name).setLevel(app.config["LOG_LEVEL"])
    if not root.handlers and not app.config.get("TESTING"):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
