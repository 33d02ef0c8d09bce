"""The sign-in pages: whatever step the browser's journey run is at."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for

from journeys import engine
from journeys.errors import JourneyBroken, RunMissing, StaleRun
from journeys.results import Redirect, Render, Result
from security import limiter
from users import sessions

log = logging.getLogger(__name__)

bp = Blueprint("journey", __name__)

#: How often a request that lost a race for its run shows the run again before giving up.
STALE_RETRIES = 5


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["SIGNIN_RATE_LIMIT"], methods=["POST"])
def page():
    journeys = engine()
    try:
        run = journeys.load(session.get("run"))
    except RunMissing:
        if request.method == "POST":
            return render_template("errors/journey_expired.html"), 400
        # Someone opened Ferry directly: sign in to Ferry itself (the account page).
        session["run"] = journeys.start(current_app.config["DEFAULT_JOURNEY"])
        run = journeys.load(session["run"])
    try:
        result = journeys.submit(run, request.form) if request.method == "POST" else journeys.show(run)
    except StaleRun:
        # Another request moved this run on meanwhile (double submit): show where it is now,
        # or, if that request finished the sign-in, the page of the signed-in user. Showing a
        # page may write too (a new WebAuthn challenge), so a burst of requests tries again.
        for _attempt in range(STALE_RETRIES):
            try:
                result = journeys.show(journeys.load(session.get("run")))
                break
            except StaleRun:
                continue
            except RunMissing:
                if sessions.current() is not None:
                    return redirect(url_for("account.home"), code=303)
                return render_template("errors/journey_expired.html"), 400
        else:
            return render_template("errors/journey_busy.html"), 409
    except JourneyBroken:
        log.exception("journey %s is broken at step %s", run.journey, run.step)
        return render_template("errors/journey_broken.html"), 500
    return respond(result)


def respond(result: Result):
    if isinstance(result, Redirect):
        return redirect(result.url, code=303)
    if isinstance(result, Render):
        response = current_app.make_response(
            (render_template(result.template, form=result.form, **result.context), result.status)
        )
        response.headers["Cache-Control"] = "no-store"
        return response
    raise TypeError(f"a step returned {result!r} to the browser")
