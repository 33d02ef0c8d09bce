"""The skin's own URLs: a theme's static files, the branding stylesheet, and the start of the
optional ``forgot-password`` and ``sign-up`` journeys linked from the sign-in page."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, request, send_from_directory, session, url_for

from skin.branding import look_for, skin_state, stylesheet

bp = Blueprint("skin", __name__)

#: Journeys the sign-in page may link to, by the name the deployment gives them.
LINKED_JOURNEYS = ("forgot-password", "sign-up")


@bp.get("/themes/<theme>/static/<path:filename>")
def static(theme: str, filename: str):
    """A file of a theme's ``static/`` folder, with the cache rules of Ferry's own static files.

    ``send_from_directory`` refuses any path leaving the folder (``..``, absolute paths).
    """
    found = skin_state().themes.get(theme)
    if found is None:
        abort(404)
    return send_from_directory(found.static, filename,
                               max_age=current_app.get_send_file_max_age(filename))


@bp.get("/branding.css")
def branding_css():
    """The branding's colours and radius as CSS custom properties (no inline style: CSP)."""
    look = look_for(request.args.get("app"))
    response = current_app.response_class(stylesheet(look.branding), mimetype="text/css")
    response.headers["Cache-Control"] = "public, max-age=3600"  # the URL carries a fingerprint
    response.add_etag()
    return response.make_conditional(request)


@bp.get("/journeys/<name>")
def start_linked(name: str):
    """Start ``forgot-password`` or ``sign-up`` for the app of the current sign-in, if any;
    ``sign-up`` not for an app that offers none (``signup = false``)."""
    from journeys import engine
    from journeys.errors import RunMissing

    journeys = engine()
    if name not in LINKED_JOURNEYS or name not in journeys.journeys:
        abort(404)
    client_id, context = None, {}
    try:
        run = journeys.load(session.get("run"))
        client_id = run.client_id
        if "authorize" in run.context:
            context = {"authorize": run.context["authorize"]}
    except RunMissing:
        pass  # no sign-in under way: a journey of Ferry itself
    if name == "sign-up" and not look_for(client_id).signup:
        abort(404)
    session["run"] = journeys.start(name, client_id=client_id, context=context)
    return redirect(url_for("journey.page"), code=303)
