"""HTTP only: parse the request, call the domain, render or redirect.

* ``oidc.py``: the OpenID Provider endpoints apps talk to.
* ``journey.py``: the sign-in pages (whatever step a journey is at).
* ``federation.py``: where redirect IdPs send users back (OIDC callback, SAML ACS).
* ``account.py``: the signed-in user's own page and sign-out.
* ``admin/``: the admin portal (its own cookie, under ``/admin``).
* ``health.py``: ``/healthz`` and ``/readyz`` for load balancers.
* ``metrics.py``: ``/metrics`` for Prometheus (loopback, or a bearer token).
* ``errors.py``: turning errors into pages.
"""

from __future__ import annotations

from flask import Flask

from blueprints import account, admin, errors, federation, health, journey, metrics, oidc


def init_app(app: Flask) -> None:
    app.register_blueprint(oidc.bp)
    app.register_blueprint(journey.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(federation.bp)
    app.register_blueprint(metrics.bp)
    admin.init_app(app)
    health.init_app(app)
    errors.init_app(app)
