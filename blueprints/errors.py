"""Every error a browser can provoke ends on a page that says what to do next, never a trace."""

from __future__ import annotations

import logging

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import BadHost, HTTPException

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return render_template("errors/form_expired.html"), 400

    @app.errorhandler(BadHost)
    def bad_host(error: BadHost):
        # No URL can be built for a Host that is not a host name, so no page either: plain text.
        return app.response_class("Bad Request: the Host header is not valid.\n", 400, mimetype="text/plain")

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return render_template("errors/http.html", error=error), error.code or 500

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("unhandled error")
        return render_template("errors/unexpected.html"), 500
