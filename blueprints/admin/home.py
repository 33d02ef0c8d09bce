"""Portal section: the overview. Users and how many each connector has migrated so far
(:class:`~models.LegacyLink`); apps, connectors and journeys by source (the file's read-only
objects, the portal's in the store, Ferry's shipped journeys) and each journey with its
source; the store's revision and its latest changes (who, when, what); links to the sections.
"""

from __future__ import annotations

from dataclasses import dataclass

import peewee
from flask import current_app, render_template

import connectors
import store
from blueprints.admin.base import bp
from journeys import engine
from journeys.definition import default_tables
from models import LegacyLink, User
from operators.sessions import require
from store import live, objects

#: The kinds of configuration the overview counts, with the section that shows them.
SECTIONS = (("apps", "admin.apps"), ("connectors", "admin.connectors"),
            ("journeys", "admin.journeys"))
#: How many configuration revisions the overview lists.
LATEST = 10


@dataclass(frozen=True)
class KindCount:
    """How many objects of a kind run, and from where."""

    kind: str
    endpoint: str | None  # the section showing them, when it is built
    running: int
    from_file: int
    from_store: int


def _kind_counts() -> list[KindCount]:
    built = current_app.view_functions
    running = {"connectors": len(connectors.instances()), "journeys": len(engine().journeys)}
    counts = []
    for kind, endpoint in SECTIONS:
        views = store.views(kind)
        from_file = sum(view.read_only for view in views)
        counts.append(KindCount(kind, endpoint if endpoint in built else None,
                                running.get(kind, len(views)), from_file, len(views) - from_file))
    return counts


def _journey_sources() -> list[tuple[str, list[str]]]:
    shipped, in_file = default_tables(), live.file_deployment().journeys
    in_store = {view.name for view in store.views("journeys") if not view.read_only}
    return [(name, [source for source, holds in (("shipped", shipped), ("file", in_file),
                                                 ("portal", in_store)) if name in holds])
            for name in sorted(engine().journeys)]


def changed_fields(revision) -> list[str]:
    """The top-level fields a configuration revision changed (an update; none for a create or a
    delete). A secret reads ``(kept)`` when it stayed the same, ``(changed)`` when not."""
    if revision.action != "update":
        return []
    before, after = revision.before or {}, revision.after or {}
    return sorted(field for field in set(before) | set(after)
                  if after.get(field) != "(kept)" and before.get(field) != after.get(field))


@bp.get("/")
@require()
def home():
    """The overview."""
    migrated = (LegacyLink.select(LegacyLink.connector, peewee.fn.COUNT(LegacyLink.id).alias("count"))
                .group_by(LegacyLink.connector).order_by(LegacyLink.connector))
    changes = [(revision, changed_fields(revision)) for revision in objects.history(limit=LATEST)]
    return render_template(
        "admin/home.html", users=User.select().count(),
        migrated=User.select().join(LegacyLink).distinct().count(),
        by_connector=[(row.connector, row.count) for row in migrated],
        running_connectors=connectors.instances(),
        kinds=_kind_counts(), journeys=_journey_sources(), revision=objects.revision(),
        changes=changes, built=current_app.view_functions)
