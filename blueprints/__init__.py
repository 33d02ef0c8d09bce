"""HTTP only: parse the request, call the domain, render or redirect.

* ``oidc.py``: the OpenID Provider endpoints apps talk to.
* ``journey.py``: the sign-in pages (whatever step a journey is at).
* ``account.py``: the signed-in user's own page and sign-out.
* ``errors.py``: turning errors into pages.
"""

from __future__ import annotations

from flask import Flask

from blueprints import account, errors, journey, oidc


def init_app(app: Flask) -> None:
    app.register_blueprint(oidc.bp)
    app.register_blueprint(journey.bp)
    app.register_blueprint(account.bp)
    errors.init_app(app)
