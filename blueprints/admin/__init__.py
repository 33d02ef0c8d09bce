"""The admin portal: operators run the migration here without editing files.

* ``base.py``: the blueprint, the menu, auditing; ``auth.py``: signing in (password and passkey);
* ``home.py``: the overview; ``apps.py``: applications; ``connectors.py``: the integration hub;
  ``journeys.py``: journeys; ``schema.py``: the user schema and mappings; ``users.py``: users;
  ``audit.py``: the audit log; ``migration.py``: the migration dashboard.

Everything reads and writes the configuration through :mod:`store` and users through
:mod:`users`; templates are in ``templates/admin/``.
"""

from __future__ import annotations

from flask import Flask

from blueprints.admin import (  # noqa: F401 (each module adds its views to bp)
    apps,
    audit,
    auth,
    connectors,
    connectors_discovery,
    home,
    journeys,
    migration,
    schema,
    users,
)
from blueprints.admin.base import bp


def init_app(app: Flask) -> None:
    """Register the portal."""
    app.register_blueprint(bp)
