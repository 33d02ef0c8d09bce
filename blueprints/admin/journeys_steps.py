"""Portal section: journeys, the step forms. Saving one step (its type, settings and routes),
adding one, removing one, and the journey's title and first step; each change is the journey's
effective table with that one change, saved like the TOML (the whole deployment validated).
"""

from __future__ import annotations

import copy

from flask import abort, request
from flask_babel import gettext as _

from blueprints.admin import journeys_tables as tables
from blueprints.admin.base import bp
from blueprints.admin.journeys import render_page, save_journey
from blueprints.admin.journeys_forms import step_form
from operators.sessions import require


def _editable(name: str) -> dict:
    """The effective table of journey ``name``; 404 when there is none, 403 for the file's."""
    table = tables.effective(name)
    if table is None:
        abort(404)
    if tables.overlay(name)[1] == "file":
        abort(403)
    return copy.deepcopy(table)


def _refused(name: str, target: dict, step: str, message: str, draft=None):
    placed = tables.Placed()
    placed.add(step, "", message)
    return render_page(name, status=400, target=target, placed=placed, draft=draft)


@bp.post("/journeys/<name>/steps")
@require()
def journey_step(name: str):
    """A posted step form: ``action`` is ``save``, ``retype`` (show another type's settings,
    nothing saved) or ``remove``."""
    target = _editable(name)
    steps = target.setdefault("steps", {})
    step = request.form.get("step", "").strip()
    new = request.form.get("new") == "1"
    action = request.form.get("action", "save")
    if new and (step in steps or not tables.STEP_NAME.match(step)):
        return _refused(name, target, step or "?", _("Choose a step name the journey does not "
                        "have: 1 to 64 letters, digits, - or _."))
    if not new and step not in steps:
        abort(404)
    if action == "remove":
        return _remove(name, target, step)
    cls = tables.step_class(request.form.get("type"))
    current = {} if new else dict(steps[step])
    if cls is None:
        draft = step_form(step, {**current, "type": request.form.get("type", "")}, draft=True, new=new)
        return _refused(name, target, step, _("Choose one of the step types."), draft)
    if cls.type != current.get("type"):
        current = {key: value for key, value in current.items() if key == "on"}
    table, unreadable = tables.step_from_form(request.form, cls, current)
    draft = step_form(step, table, draft=True, new=new)
    if action == "retype":
        return render_page(name, target=target, draft=draft)
    if unreadable:
        placed = tables.Placed()
        for field_name, message in unreadable.items():
            placed.add(step, field_name, message)
        return render_page(name, status=400, target=target, placed=placed, draft=draft)
    steps[step] = table
    return save_journey(name, target, event="journey.step_saved", draft=draft,
                        fragment=draft.anchor)


def _remove(name: str, target: dict, step: str):
    if target.get("start") == step:
        return _refused(name, target, step, _("This is the journey's first step: choose another "
                                                "first step before you remove it."))
    del target["steps"][step]
    return save_journey(name, target, event="journey.step_removed")


@bp.post("/journeys/<name>/settings")
@require()
def journey_settings(name: str):
    """The journey's title and first step."""
    target = _editable(name)
    title = request.form.get("title", "").strip()
    if title:
        target["title"] = title
    else:
        target.pop("title", None)
    start = request.form.get("start", "")
    if start:
        target["start"] = start
    return save_journey(name, target, event="journey.saved", fragment="journey-settings")
