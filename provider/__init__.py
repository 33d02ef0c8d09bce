"""Ferry as an OpenID Provider for apps: discovery, JWKS, authorize, token (code, refresh),
revocation, introspection, userinfo, RP-initiated and back-channel logout.

* ``server.py`` assembles authlib's server from ``codes.py`` (code grant, PKCE, ID token),
  ``refresh.py`` (rotation, reuse detection), ``client_auth.py`` (JWT client assertions) and
  ``endpoints.py`` (revocation, introspection, end session).
* ``authorization.py``: what ``/authorize`` decides (prompt, max_age, hints, acr) and the bridge
  to the journey's ``complete`` step; ``consent.py``: remembered consent; ``acr.py``: ``acr``.
* ``app_settings.py`` / ``clients.py``: registered apps. ``keys.py``: signing keys.
  ``userinfo.py``: claims by scope. ``discovery.py``: the discovery document.
The HTTP endpoints are in ``blueprints/oidc/``.
"""

from __future__ import annotations

from flask import Flask

from models import db
from provider import backchannel, clients, keys
from provider.server import build_server
from settings import deployment


def init_app(app: Flask) -> None:
    journeys = set(app.extensions["ferry.journeys"].journeys)
    if app.config["DEFAULT_JOURNEY"] not in journeys:
        from settings.errors import ConfigError

        raise ConfigError(f"ferry.default_journey: no journey named {app.config['DEFAULT_JOURNEY']!r}")
    apps = clients.validate_apps(deployment(app).apps, journeys)
    keys.clear_cache()
    with db.connection_context():
        clients.sync_config_apps(apps, app.config["DEFAULT_JOURNEY"], app.config["SECRET_KEY"])
        keys.ensure_signing_key()
    server, protector = build_server(app)
    app.extensions["ferry.oauth_server"] = server
    app.extensions["ferry.resource_protector"] = protector
    keys.init_app(app)
    backchannel.init_app(app)
