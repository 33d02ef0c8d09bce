"""Portal section: the mapping preview. A legacy profile pasted as JSON goes through a
connector's mapping (or one typed in), and the page shows the Ferry user it would make: each
attribute, where it is stored (a column or a custom attribute), and its problem (a claim path
the profile lacks, a transform that cannot apply, a value of the wrong type for the schema, a
required attribute missing, an identifier another user has). Nothing is created.

Saving writes the mapping into the connector's settings through the store (checked like any
connector save, from the revision the page was opened at); a connector of the configuration
file is read-only, but its mapping can still be previewed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

import connectors
import store
from blueprints.admin.base import audit_change, bp
from blueprints.admin.schema import running_schema
from models import User
from operators import sessions
from operators.sessions import require
from store.objects import REDACTED
from users.mapping import DEFAULT_MAPPING, STANDARD_ATTRIBUTES, map_profile
from users.schema import check_profile

SAMPLE = {"sub": "legacy-42", "email": "Ada@Example.com ", "email_verified": "true",
          "given_name": "Ada", "family_name": "Lovelace"}
#: Largest mapping or profile the preview reads (characters).
MAX_TEXT = 64 * 1024
_UNIQUE_COLUMNS = ("email", "username", "phone")


@dataclass(frozen=True)
class Line:
    """One attribute of the previewed user."""

    name: str
    value: Any
    present: bool
    column: bool  # a column of User (else a custom attribute)
    problem: str | None


def _json(label: str, text: str) -> tuple[Any, str | None]:
    if len(text) > MAX_TEXT:
        return None, _("%(what)s: longer than %(limit)s characters", what=label, limit=MAX_TEXT)
    try:
        value = json.loads(text)
    except ValueError as error:
        return None, _("%(what)s: not JSON: %(error)s", what=label, error=str(error))
    if not isinstance(value, dict):
        return None, _("%(what)s: must be a JSON object ({...})", what=label)
    return value, None


def _taken(profile: dict[str, Any]) -> dict[str, str]:
    """Identifiers of the profile that another Ferry user has already."""
    found = {}
    for name in _UNIQUE_COLUMNS:
        value = profile.get(name)
        if isinstance(value, str) and User.select().where(getattr(User, name) == value).exists():
            found[name] = _("a Ferry user has this %(name)s already: unless it is this legacy "
                            "user, migrated before, the sign-in ends in conflict", name=name)
    return found


def preview(claims: dict[str, Any], mapping: dict[str, Any]) -> list[Line]:
    """The Ferry user ``mapping`` makes of ``claims``, attribute by attribute."""
    mapped = map_profile(claims, mapping)
    problems = check_profile(running_schema(), mapped.profile, mapping, mapped.problems)
    for name, problem in _taken(mapped.profile).items():
        problems.setdefault(name, problem)
    names = list(dict.fromkeys([*mapping, *mapped.profile, *problems]))
    return [Line(name, mapped.profile.get(name), name in mapped.profile,
                 name in STANDARD_ATTRIBUTES, problems.get(name)) for name in names]


def _chosen() -> tuple[str, Any, Any]:
    names = sorted(connectors.instances())
    chosen = request.values.get("connector", "")
    if chosen not in names:
        chosen = names[0] if names and "connector" not in request.values else ""
    return chosen, connectors.instances().get(chosen), store.view("connectors", chosen) if chosen else None


@bp.route("/schema/preview", methods=["GET", "POST"])
@require()
def schema_preview():
    """A legacy profile through a mapping: the Ferry user it would make, and its problems."""
    chosen, built, view = _chosen()
    mapping_text = json.dumps(dict(built.mapping) if built else DEFAULT_MAPPING, indent=2)
    profile_text = json.dumps(SAMPLE, indent=2)
    lines, general, status_code = None, [], 200
    if request.method == "POST":
        mapping_text = request.form.get("mapping", "")
        profile_text = request.form.get("profile", "")
        mapping, mapping_problem = _json(_("Mapping"), mapping_text)
        claims, profile_problem = _json(_("Legacy profile"), profile_text)
        general = [problem for problem in (mapping_problem, profile_problem) if problem]
        if general:
            status_code = 400
        else:
            lines = preview(claims, mapping)
            if request.form.get("save"):
                return _save_mapping(chosen, mapping, lines)
    revision = request.form.get("revision") or (view.revision if view else None)
    return render_template(
        "admin/schema_preview.html", names=sorted(connectors.instances()), chosen=chosen,
        mapping_text=mapping_text, profile_text=profile_text, lines=lines, general=general,
        view=view, revision=revision, problems=sum(1 for line in lines or () if line.problem),
    ), status_code


def _save_mapping(name: str, mapping: dict[str, Any], lines: list[Line]):
    """Save ``mapping`` as connector ``name``'s (its other settings as they are)."""
    view = store.view("connectors", name) if name else None
    if view is None:
        flash(_("Choose a connector to save the mapping to."), "error")
        return redirect(url_for("admin.schema_preview"), code=303)
    revision = request.form.get("revision", "")
    data = {key: store.KEEP if value == REDACTED else value for key, value in view.data.items()}
    data["mapping"] = mapping
    try:
        store.save("connectors", name, data, actor=sessions.current().email,
                   expected_revision=int(revision) if revision.isdigit() else view.revision)
    except store.StoreError as error:
        return render_template(
            "admin/schema_preview.html", names=sorted(connectors.instances()), chosen=name,
            mapping_text=request.form.get("mapping", ""), profile_text=request.form.get("profile", ""),
            lines=lines, general=[_("Nothing was saved.")] + error.problems, view=view,
            revision=revision, problems=sum(1 for line in lines if line.problem),
        ), 409 if isinstance(error, store.Conflict) else 400
    audit_change("connector.mapping_saved", before=view.data.get("mapping"), after=mapping,
                 connector=name)
    flash(_("The mapping of %(name)s was saved; every server uses it within seconds.", name=name))
    return redirect(url_for("admin.schema_preview", connector=name), code=303)
