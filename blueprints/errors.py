"""Every error a browser can provoke ends on a page that says what to do next, never a trace."""

from __future__ import annotations

import logging

import peewee
from flask import Flask, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from playhouse.pool import MaxConnectionsExceeded
from werkzeug.exceptions import BadHost, HTTPException

log = logging.getLogger(__name__)

#: Seconds a client is asked to wait when the database cannot be reached.
RETRY_AFTER = 5
#: Endpoints that apps call: they get OAuth's JSON error instead of a page.
_MACHINE_ENDPOINTS = {"oidc.token", "oidc.revoke", "oidc.introspect", "oidc.userinfo", "oidc.jwks",
                      "oidc.discovery_document"}


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return render_template("errors/form_expired.html"), 400

    @app.errorhandler(BadHost)
    def bad_host(error: BadHost):
        # No URL can be built for a Host that is not a host name, so no page either: plain text.
        return app.response_class("Bad Request: the Host header is not valid.\n", 400, mimetype="text/plain")

    @app.errorhandler(peewee.OperationalError)
    @app.errorhandler(peewee.InterfaceError)
    @app.errorhandler(MaxConnectionsExceeded)
    def database_unavailable(error: Exception):
        # PostgreSQL restarting or away, every pooled connection busy, SQLite locked too long:
        # the request did nothing, and the next one may well work. The pool discards a dead
        # connection when it is next lent (peewee pings it), so nobody restarts Ferry for this.
        first_line = (str(error).strip().splitlines() or [""])[0]
        log.warning("database unavailable (%s): %s", type(error).__name__, first_line)
        if request.endpoint in _MACHINE_ENDPOINTS:
            response = jsonify(error="temporarily_unavailable",
                               error_description="The service is unavailable; try again shortly.")
            response.status_code = 503
            response.headers["Cache-Control"] = "no-store"
        else:
            # The page must not touch the database again: Flask-Login's template context asks
            # who is signed in, which would look the session up and fail the same way.
            g.ferry_session = None
            g._login_user = None
            response = app.make_response((render_template("errors/unavailable.html"), 503))
        response.headers["Retry-After"] = str(RETRY_AFTER)
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return render_template("errors/http.html", error=error), error.code or 500

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("unhandled error")
        return render_template("errors/unexpected.html"), 500
