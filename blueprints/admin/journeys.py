"""Portal section: journeys. Every journey (shipped, the file's, the store's) with its source;
a journey's page with its diagram (server-rendered SVG, unreachable steps marked), its steps in
words and the editor: the TOML text and a form per step side by side, each save validated as
the whole deployment (:func:`store.save`) with every problem shown at its step and at its line.

A store journey with a shipped name is laid over the shipped one, as in ``ferry.toml``: only
the steps and keys it names change; when a step form removes something the shipped journey
has, the store holds the whole journey with ``replace = true``.

Modules: ``journeys_tables.py`` (effective tables, overlays, where problems point),
``journeys_forms.py`` (the step forms), ``journeys_steps.py`` (saving a step, the journey's
title and start), ``journeys_walk.py`` and ``journeys_dry_run.py`` (the dry run).
"""

from __future__ import annotations

import tomllib

import tomli_w
from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

import store
from blueprints.admin import journeys_tables as tables
from blueprints.admin.base import audit_change, bp
from blueprints.admin.journeys_forms import StepForm, anchor, step_form, step_forms, step_types
from journeys import engine
from journeys.diagram import build_graph
from journeys.diagram_svg import render_svg
from operators import sessions
from operators.sessions import require

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._\-]{0,99}"


def diagram(name: str) -> Markup | None:
    """The running journey's diagram (escaped by the renderer), or None."""
    journey = engine().journeys.get(name)
    if journey is None:
        return None
    return Markup(render_svg(build_graph(journey), element_id=f"journey-{name}"))  # noqa: S704  # nosec B704 (escaped by the renderer)


def posted_revision() -> int | None:
    """The store revision the form was opened at (None: the store held nothing then)."""
    revision = request.form.get("revision", "")
    return int(revision) if revision.isdigit() else None


def render_page(name: str, *, status: int = 200, target: dict | None = None,
                placed: tables.Placed | None = None, draft: StepForm | None = None,
                toml_text: str | None = None, syntax_error: str | None = None,
                toml_draft: bool = False):
    """The journey page; after a refused save, ``target`` is the journey that was tried,
    ``placed`` its problems, ``draft`` the step form as posted, ``toml_text`` the TOML
    (``toml_draft``: the TOML was posted, so the step forms only show it)."""
    laid, source = tables.overlay(name)
    view = store.view("journeys", name)
    runs = tables.effective(name)
    shown = target if target is not None else runs
    if toml_text is None:
        toml_text = tomli_w.dumps(tables.store_data(name, target)) if target is not None \
            else (tomli_w.dumps(laid) if laid else _toml_hint(name))
    running = engine().journeys.get(name)
    listing = tables.listing(toml_text, placed, syntax_error) if placed or syntax_error else None
    add_problem = None
    if draft is None and request.method == "GET" and request.args.get("add_type"):
        draft, add_problem = _new_step(shown)
    return render_template(
        "admin/journey.html", name=name, journey=running, diagram=diagram(name),
        graph=build_graph(running) if running else None, table=shown or {},
        steps=step_forms(shown, placed, draft), placed=placed or tables.Placed(),
        toml_text=toml_text, listing=listing, syntax_error=syntax_error,
        read_only=source == "file", sources=tables.sources(name), view=view,
        revision=posted_revision() if request.method == "POST" else (view.revision if view else None),
        types=step_types(), shipped=tables.shipped(name) is not None, add_problem=add_problem,
        anchor=anchor, steps_locked=toml_draft,
        running_toml=tomli_w.dumps(runs) if runs and laid is not None and tables.shipped(name) else "",
    ), status


def _toml_hint(name: str) -> str:
    """The TOML box of a shipped journey the portal has not changed: comments, so that saving
    it as it is changes nothing."""
    lines = [_("Ferry's own %(name)s runs as it ships. Lay your changes over it here, e.g.:",
               name=name), "[steps.collect]", "pin = false", 'on = { pin = "collect" }']
    return "".join(f"# {line}\n" for line in lines)


def _new_step(shown: dict | None) -> tuple[StepForm | None, str | None]:
    """The form of a step to add (``?add_type=...&add_name=...``), or why there is none."""
    step, type_name = request.args.get("add_name", "").strip(), request.args.get("add_type", "")
    if not tables.STEP_NAME.match(step):
        return None, _("A step name is 1 to 64 letters, digits, - or _, starting with a letter or digit.")
    if step in ((shown or {}).get("steps") or {}):
        return None, _("The journey has a step %(step)s already.", step=step)
    if tables.step_class(type_name) is None:
        return None, _("Choose a step type.")
    return step_form(step, {"type": type_name}, draft=True, new=True), None


def save_journey(name: str, target: dict, *, event: str, draft: StepForm | None = None,
                 toml_text: str | None = None, fragment: str = ""):
    """Save ``target`` as journey ``name`` (validated as the whole deployment); the page again
    with every problem at its place when the store refuses it."""
    data = tables.store_data(name, target)
    before, _source = tables.overlay(name)
    try:
        store.save("journeys", name, data, actor=sessions.current().email,
                   expected_revision=posted_revision())
    except store.StoreError as error:
        placed = tables.place(name, error.problems, target)
        return render_page(name, status=409 if isinstance(error, store.Conflict) else 400,
                           target=target, placed=placed, draft=draft, toml_text=toml_text)
    audit_change(event, before=before, after=data, journey=name)
    flash(_("The journey %(name)s was saved; every server runs it within seconds.", name=name))
    return redirect(url_for("admin.journey", name=name) + (f"#{fragment}" if fragment else ""), code=303)


@bp.get("/journeys")
@require()
def journeys():
    """Every running journey, with its source."""
    running = engine().journeys
    rows = [(name, running[name].title, len(running[name].steps), tables.sources(name),
             len(build_graph(running[name]).unreachable)) for name in sorted(running)]
    return render_template("admin/journeys.html", rows=rows)


@bp.get("/journeys/<name>")
@require()
def journey(name: str):
    """A journey's diagram, steps and editor."""
    if tables.effective(name) is None:
        abort(404)
    return render_page(name)


@bp.get("/journeys/<name>/diagram.svg")
@require()
def journey_diagram(name: str):
    """The running journey's diagram on its own (for the browser to zoom, or to keep)."""
    journey = engine().journeys.get(name)
    if journey is None:
        abort(404)
    svg = render_svg(build_graph(journey), element_id=f"journey-{name}")
    return Response('<?xml version="1.0" encoding="UTF-8"?>\n' + svg, mimetype="image/svg+xml")


@bp.post("/journeys/<name>")
@require()
def journey_toml(name: str):
    """Save the journey's TOML (the store's overlay of a shipped journey, or the whole one)."""
    text = request.form.get("toml", "")
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = _("Not valid TOML: %(error)s", error=str(error))
        return render_page(name, status=400, toml_text=text, syntax_error=message,
                           placed=tables.Placed(journey=[message]))
    before, _source = tables.overlay(name)
    if not table and before is None and tables.shipped(name) is not None:
        flash(_("Nothing was saved: the TOML holds no change to %(name)s.", name=name))
        return redirect(url_for("admin.journey", name=name), code=303)
    target = table if tables.shipped(name) is None or table.get("replace") \
        else tables.deep_merge(tables.shipped(name), table)
    target = {key: value for key, value in target.items() if key != "replace"}
    try:
        store.save("journeys", name, table, actor=sessions.current().email,
                   expected_revision=posted_revision())
    except store.StoreError as error:
        placed = tables.place(name, error.problems, target)
        return render_page(name, status=409 if isinstance(error, store.Conflict) else 400,
                           target=target, placed=placed, toml_text=text, toml_draft=True)
    audit_change("journey.saved", before=before, after=table, journey=name)
    flash(_("The journey %(name)s was saved; every server runs it within seconds.", name=name))
    return redirect(url_for("admin.journey", name=name), code=303)


@bp.route("/journeys/new", methods=["GET", "POST"])
@require()
def journey_new():
    """A new journey: a name, and the journey it starts as a copy of (or a small sign-in)."""
    name = request.form.get("name", "").strip()
    origin = request.form.get("copy", "")
    running = engine().journeys
    problems: list[str] = []
    if request.method == "POST":
        if not name or name in running or tables.overlay(name)[0] is not None:
            problems = [_("Choose a name no journey has yet.")]
        else:
            target = tables.effective(origin) if origin in running else dict(tables.STARTER)
            try:
                store.save("journeys", name, target, actor=sessions.current().email,
                           expected_revision=None)
            except store.StoreError as error:
                problems = error.problems
            else:
                audit_change("journey.created", after=target, journey=name, copy_of=origin or None)
                flash(_("The journey %(name)s was created; change it below.", name=name))
                return redirect(url_for("admin.journey", name=name), code=303)
    return render_template("admin/journey_new.html", name=name, pattern=NAME_PATTERN,
                           journeys=sorted(running), origin=origin, problems=problems
                           ), 400 if problems else 200


@bp.post("/journeys/<name>/delete")
@require()
def journey_delete(name: str):
    """Delete the store's journey (for a shipped one: its changes, back to Ferry's own)."""
    view = store.view("journeys", name)
    if view is None or view.read_only:
        abort(404)
    if request.form.get("confirm") != "yes":
        flash(_("Tick the box to confirm, then delete."), "error")
        return redirect(url_for("admin.journey", name=name), code=303)
    try:
        store.delete("journeys", name, actor=sessions.current().email,
                     expected_revision=posted_revision() or 0)
    except store.StoreError as error:
        for problem in error.problems:
            flash(problem, "error")
        return redirect(url_for("admin.journey", name=name), code=303)
    audit_change("journey.deleted", before=view.data, journey=name)
    if tables.shipped(name) is not None:
        flash(_("The portal's changes to %(name)s were removed: Ferry's own journey runs again.",
                name=name))
        return redirect(url_for("admin.journey", name=name), code=303)
    flash(_("The journey %(name)s was deleted.", name=name))
    return redirect(url_for("admin.journeys"), code=303)


from blueprints.admin import journeys_dry_run, journeys_steps  # noqa: E402,F401 (their views join the section)
