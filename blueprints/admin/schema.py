"""Portal section: the user schema and the mappings.

The standard attributes (which are required) and the custom attributes and identifiers, each
with its type and flags, edited in a form of rows and saved as the store's ``schema`` object
(validated like ``[schema]`` in the file; read-only when the file has one); every connector's
mapping at a glance. The mapping preview (a legacy profile through a mapping, the Ferry user it
would make, a problem per field; saving a portal connector's mapping) is in ``schema_preview.py``.
"""

from __future__ import annotations

import tomli_w
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

import connectors
import store
from blueprints.admin import schema_form
from blueprints.admin.base import audit_change, bp
from operators import sessions
from operators.sessions import require
from settings import deployment
from store import live
from store.kinds import SINGLETON
from users import schema as user_schema


def running_schema() -> user_schema.UserSchema:
    """The user schema the deployment runs."""
    return user_schema.load(deployment(current_app).schema)


def _mappings() -> list[tuple[str, str, dict[str, str]]]:
    """Every running connector's name, source and mapping."""
    sources = {view.name: view.source for view in store.views("connectors")}
    return [(name, sources.get(name, "file"), dict(built.mapping))
            for name, built in sorted(connectors.instances().items())]


def _page(schema, rows, view, problems=(), status_code=200, revision=None):
    table = schema.table() if schema else {}
    return render_template(
        "admin/schema.html", standard=user_schema.STANDARD, schema=schema, rows=rows,
        types=user_schema.TYPES, view=view, read_only=bool(live.file_deployment().schema),
        problems=list(problems), mappings=_mappings(),
        toml=tomli_w.dumps({"schema": table}) if table else "",
        revision=revision if revision is not None else (view.revision if view else None),
    ), status_code


@bp.get("/schema")
@require()
def schema():
    """The standard and custom attributes, and each connector's mapping."""
    running = running_schema()
    return _page(running, schema_form.rows_of(running), store.view("schema", SINGLETON))


@bp.post("/schema")
@require()
def schema_save():
    """Check and save the posted schema (nothing is saved when anything is wrong)."""
    view = store.view("schema", SINGLETON)
    table, rows, problems = schema_form.parse(request.form)
    revision = request.form.get("revision") or None
    opened = int(revision) if revision and revision.isdigit() else None
    required = set(table.get("required", []))
    shown = _Shown(required)
    if problems:
        return _page(shown, rows, view, [_("Nothing was saved: see the attributes marked below.")],
                     400, opened)
    try:
        table = user_schema.load(table).table()  # as the store keeps it (the store says what is wrong)
    except ValueError:
        pass
    try:
        store.save("schema", SINGLETON, table, actor=sessions.current().email,
                   expected_revision=opened)
    except store.StoreError as error:
        general = schema_form.place(error.problems, rows)
        if len(general) < len(error.problems):
            general.insert(0, _("Nothing was saved: see the attributes marked below."))
        return _page(shown, rows, view, general, 409 if isinstance(error, store.Conflict) else 400,
                     opened)
    audit_change("schema.saved", before=view.data if view else None, after=table)
    flash(_("The user schema was saved; every server uses it within seconds."))
    return redirect(url_for("admin.schema"), code=303)


class _Shown:
    """What the page shows of a schema that did not save: the standard boxes as posted."""

    def __init__(self, required: set[str]) -> None:
        self.required = sorted(required)
        self.attributes: dict = {}

    def table(self) -> dict:
        """Nothing to show as TOML: it did not validate."""
        return {}
from blueprints.admin import schema_preview  # noqa: E402,F401 (its views join the section)
