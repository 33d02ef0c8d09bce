"""Ferry's application factory. It only assembles; every part brings its own ``init_app``.

Run with ``flask --app app run`` or ``gunicorn 'app:create_app()'``.
"""

from __future__ import annotations

import os

from flask import Flask
from flask_babel import Babel, get_locale
from flask_login import LoginManager
from werkzeug.middleware.proxy_fix import ProxyFix

import authenticators
import blueprints
import connectors
import journeys
import lifecycle
import operators
import provider
import security
import settings
import skin
import store
from models import database, migrations
from settings import logging_setup
from users import locale, sessions


def create_app(test_config: dict | None = None) -> Flask:
    instance_path = os.environ.get("FERRY_INSTANCE_PATH")
    app = Flask(
        __name__,
        instance_path=os.path.abspath(instance_path) if instance_path else None,
        instance_relative_config=True,
    )
    settings.init_app(app, test_config)
    logging_setup.init_app(app)
    if app.config["TRUSTED_PROXIES"]:
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    database.init_app(app)
    if migrations.loaded_for_db_command():
        return app  # `flask db ...`: the schema may be behind, so nothing else may read it yet
    store.init_app(app)  # the store's objects join the file's before anything is built
    operators.init_app(app)  # the admin portal's own session cookie under /admin, ferry admin
    security.init_app(app)
    Babel(app, locale_selector=locale.select)
    app.jinja_env.globals["get_locale"] = get_locale
    login_manager = LoginManager(app)
    login_manager.request_loader(lambda _request: _current_user())
    authenticators.init_app(app)
    connectors.init_app(app)
    lifecycle.init_app(app)  # the roster, the record of legacy calls, ferry roster / users import
    journeys.init_app(app)
    provider.init_app(app)
    skin.init_app(app)
    blueprints.init_app(app)
    security.drop_needless_limit_check(app)
    app.after_request(security.secure_headers)
    return app


def _current_user():
    current = sessions.current()
    return current.user if current else None
