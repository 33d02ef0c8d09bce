"""The sign-in pages: whatever step the browser's journey run is at.

The session holds the run's id, and a new one (with a new CSRF token) each time the run learns
who the user is, so a session planted before the sign-in is worthless after it. Each page's
CSP ``form-action`` lists where its form may lead: the app's redirect URIs and the IdPs behind
"Continue with ...".
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from flask import (
    Blueprint,
    after_this_request,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import generate_csrf

import skin
from blueprints import federation
from journeys import JourneyEngine, engine
from journeys.errors import JourneyBroken, RunMissing, StaleRun
from journeys.results import Redirect, Render, Result
from journeys.run import Run
from provider import clients
from security import allow_form_action, limiter
from users import sessions

log = logging.getLogger(__name__)

bp = Blueprint("journey", __name__)

#: How often a request that lost a race for its run shows the run again before giving up.
STALE_RETRIES = 5


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["SIGNIN_RATE_LIMIT"], methods=["POST"])
def page():
    journeys = engine()
    answer = federation.carried_answer()
    if answer is not None:
        after_this_request(federation.forget_answer)
    try:
        run = journeys.load(session.get("run"))
    except RunMissing:
        if request.method == "POST":
            return render_template("errors/journey_expired.html"), 400
        # Someone opened Ferry directly: sign in to Ferry itself (the account page).
        session["run"] = journeys.start(current_app.config["DEFAULT_JOURNEY"])
        run = journeys.load(session["run"])
    if request.method == "POST":
        return _step(journeys, run, lambda: journeys.submit(run, request.form, answer=answer), answer)
    return _step(journeys, run, lambda: journeys.show(run, answer=answer), answer)


def first_page(run: Run):
    """The first page of ``run``, just begun (``JourneyEngine.begin``), as the answer of the
    request that began it (``/authorize``): one round trip fewer than a redirect to ``/login``,
    and one INSERT for the run. Its form posts to ``/login``, where the journey goes on; a
    reload asks ``/authorize`` again, which starts afresh."""
    journeys = engine()
    return _step(journeys, run, lambda: journeys.show(run))


def _step(journeys: JourneyEngine, run: Run, act, answer: str | None = None):
    """Answer with what ``act`` (showing or submitting ``run``'s step) returns; a run another
    request moved on meanwhile, or a broken journey, gets its own answer."""
    try:
        result = act()
    except StaleRun:
        return _after_a_lost_race(journeys, run, answer)
    except JourneyBroken:
        log.exception("journey %s is broken at step %s", run.journey, run.step)
        return render_template("errors/journey_broken.html"), 500
    return respond(run, result)


def _after_a_lost_race(journeys: JourneyEngine, lost: Run, answer: str | None):
    """Another request moved this run on meanwhile (double submit): show where it is now, or,
    if that request finished the sign-in, the page of the signed-in user.

    If that request gave the run a new id, only a request that proved the same as it did can
    follow (``journeys.successor``); others find nothing. Showing a page may write too (a new
    WebAuthn challenge), so a burst of requests tries again.
    """
    tokens = [token for token in (journeys.successor(lost), session.get("run")) if token]
    for _attempt in range(STALE_RETRIES):
        try:
            run = _first_live(journeys, tokens)
            return respond(run, journeys.show(run, answer=answer))
        except StaleRun:
            continue
        except RunMissing:
            if sessions.current() is not None:
                return redirect(url_for("account.home"), code=303)
            return render_template("errors/journey_expired.html"), 400
    return render_template("errors/journey_busy.html"), 409


def _first_live(journeys: JourneyEngine, tokens: list[str]) -> Run:
    for token in tokens:
        try:
            return journeys.load(token)
        except RunMissing:
            continue
    raise RunMissing()


def respond(run: Run, result: Result):
    """Answer with what the step returned, the session holding the run's current id."""
    _hold(run, result)
    if isinstance(result, Redirect):
        if engine().journeys[run.journey].step(run.step).type == "federate":
            federation.learn(run.context.get("federation", {}).get("connector", ""), result.url)
        return redirect(result.url, code=303)
    if isinstance(result, Render):
        _allow_form_targets(run)
        response = current_app.make_response(
            (skin.render(result.template, client_id=run.client_id, form=result.form, **result.context),
             result.status)
        )
        response.headers["Cache-Control"] = "no-store"
        return response
    raise TypeError(f"a step returned {result!r} to the browser")


def _hold(run: Run, result: Result) -> None:
    """Keep a new run id in the session, with a new CSRF token (the old one was known to
    whoever knew the old session). A finished run's id stays out: the sign-in cleared it."""
    if run.finished or run.token is None or run.token == session.get("run"):
        return
    session["run"] = run.token
    field = current_app.config["WTF_CSRF_FIELD_NAME"]
    # Derived from the run id, so twin requests that both moved the run on agree on it.
    key = current_app.config["SECRET_KEY"].encode()
    session[field] = hmac.new(key, b"ferry.csrf\0" + run.token.encode(), hashlib.sha256).hexdigest()
    g.pop(field, None)
    form = getattr(result, "form", None)
    if form is not None and hasattr(form, "csrf_token"):
        form.csrf_token.current_token = generate_csrf()  # the form was built before the change


def _allow_form_targets(run: Run) -> None:
    """Let this page's form lead to the app (after the sign-in) and to the journey's IdPs."""
    if run.client_id:
        app = clients.find(run.client_id)
        for uri in app.row.redirect_uris if app else []:
            allow_form_action(uri)
    for url in federation.destinations(engine().redirect_connectors(run.journey)):
        allow_form_action(url)
