"""Where redirect IdPs send the browser back (OIDC callback, SAML ACS), and SP metadata."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

import connectors
from connectors import RedirectConnector
from journeys import engine, resume
from journeys.errors import RunMissing, StaleRun
from security import csrf, limiter
from security.audit import record

log = logging.getLogger(__name__)

bp = Blueprint("federation", __name__)


def _connector(name: str) -> RedirectConnector:
    found = connectors.instances().get(name)
    if not isinstance(found, RedirectConnector):
        abort(404)
    return found


@bp.route("/federate/<connector>/callback", methods=["GET", "POST"])
@csrf.exempt  # a cross-site answer: it carries its own proof (run-bound reference, signatures)
@limiter.limit(lambda: current_app.config["SIGNIN_RATE_LIMIT"])
def callback(connector: str):
    found = _connector(connector)
    params = {key: value for key, value in request.values.items()}
    try:
        run = resume.redeem(found.reference_from(params), found.name)
        engine().receive(run, found.name, params)
    except (RunMissing, StaleRun):
        # A forged, replayed or late answer: nothing to resume, but the operator should see it.
        record("federation.rejected", connector=found.name,
               reason="unknown, expired or already used state")
        return render_template("errors/journey_expired.html"), 400
    return redirect(url_for("journey.page"), code=303)


@bp.get("/federate/<connector>/metadata")
def metadata(connector: str):
    found = _connector(connector)
    document = found.metadata()
    if document is None:
        abort(404)
    return current_app.response_class(document, mimetype="application/samlmetadata+xml")
