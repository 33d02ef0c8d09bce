"""HTTP only: parse the request, call the domain, render or redirect.

* ``oidc.py``: the OpenID Provider endpoints apps talk to.
* ``journey.py``: the sign-in pages (whatever step a journey is at).
* ``federation.py``: where redirect IdPs send users back (OIDC callback, SAML ACS).
* ``account.py``: the signed-in user's own page and sign-out.
* ``health.py``: ``/healthz`` and ``/readyz`` for load balancers.
* ``errors.py``: turning errors into pages.
"""

from __future__ import annotations

from flask import Flask

from blueprints import account, errors, federation, health, journey, oidc


def init_app(app: Flask) -> None:
    app.register_blueprint(oidc.bp)
    app.register_blueprint(journey.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(federation.bp)
    health.init_app(app)
    errors.init_app(app)
