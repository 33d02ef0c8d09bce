"""The portal's blueprint (``/admin``), its navigation and what every portal page shares.

Every section is a module of this package that adds its views to :data:`bp`, each guarded by
:func:`operators.sessions.require`; its templates live in ``templates/admin/``. Changes are
audited with :func:`audit_change` (who, what, before and after).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from operators import sessions
from operators.accounts import may_change
from security.audit import record

bp = Blueprint("admin", __name__, url_prefix="/admin")

#: The portal's sections, in menu order: (endpoint, label). A section not built is left out.
NAV = (
    ("admin.home", _l("Overview")),
    ("admin.migration", _l("Migration")),
    ("admin.apps", _l("Applications")),
    ("admin.connectors", _l("Integration hub")),
    ("admin.journeys", _l("Journeys")),
    ("admin.schema", _l("User schema")),
    ("admin.users", _l("Users")),
    ("admin.audit", _l("Audit log")),
)


@bp.app_context_processor
def _portal() -> dict[str, Any]:
    return {}


@bp.context_processor
def _shared() -> dict[str, Any]:
    admin = sessions.current()
    nav = [(endpoint, label) for endpoint, label in NAV if endpoint in current_app.view_functions]
    return {"admin": admin, "may_change": may_change(admin), "nav": nav,
            "section": _section(nav)}


def _section(nav: list[tuple[str, str]]) -> str | None:
    """The menu entry this page belongs to: the one whose address is the longest leading part
    of the page's (``/admin/journeys/sign-in/dry-run`` is under Journeys; the overview only
    for itself)."""
    found, longest = None, -1
    for endpoint, _label in nav:
        base = url_for(endpoint).rstrip("/")
        exact = endpoint == "admin.home"
        if (request.path.rstrip("/") == base
                or (not exact and request.path.startswith(base + "/"))) and len(base) > longest:
            found, longest = endpoint, len(base)
    return found


@bp.errorhandler(403)
def _forbidden(_error):
    return render_template("admin/forbidden.html"), 403


def audit_change(event: str, before: Any = None, after: Any = None, **details: Any) -> None:
    """Record a change made in the portal: ``admin.<event>`` with the admin, before and after
    (pass redacted objects: :func:`store.objects.redacted`)."""
    admin = sessions.current()
    record(f"admin.{event}", admin=admin.email if admin else None, before=before, after=after,
           **details)
