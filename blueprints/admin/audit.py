"""Portal section: the audit log, filtered by user, event, outcome, connector and time, newest
first, and exported as JSON Lines (streamed: memory stays flat however many events match).

Times are UTC, as stored. A filter that cannot be read (a date that is no date) is named on the
page and not applied; the export then refuses rather than export more than was asked for.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from flask import Response, render_template, request, stream_with_context
from flask_babel import gettext as _

import connectors
from blueprints.admin.base import bp
from models import AuditEvent, User, db
from operators.sessions import require
from users.identifiers import normalise

PAGE_SIZE = 100
FILTERS = ("user", "event", "outcome", "connector", "since", "until")


def _moment(value: str, end: bool) -> datetime | None:
    """``2026-12-01``, ``2026-12-01T08:30`` (or with seconds, or an offset) as naive UTC; an end
    of range covers the whole day or minute it names."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    if end and len(value) == 10:
        return moment + timedelta(days=1)
    if end and len(value) == 16:
        return moment + timedelta(minutes=1)
    return moment + timedelta(microseconds=1) if end else moment


def filtered(args) -> tuple[object, dict[str, str], dict[str, str]]:
    """The events matching the request's filters (newest first), the filters as given, and a
    problem per filter that could not be read (that filter is then not applied)."""
    given = {name: (args.get(name) or "").strip()[:200] for name in FILTERS}
    problems: dict[str, str] = {}
    query = AuditEvent.select().order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if given["user"]:  # a user id, or the e-mail of a user who still exists
        users = [given["user"]]
        if "@" in given["user"]:
            users = [row.id for row in User.select(User.id).where(
                User.email == normalise("email", given["user"]))] or ["-"]
        query = query.where(AuditEvent.user_id.in_(users))
    if given["event"]:
        query = query.where(AuditEvent.event.startswith(given["event"]))
    if given["outcome"]:  # the event's last word: failed (signin.failed, legacy.code_failed)...
        outcome = given["outcome"].lstrip("._")
        query = query.where(AuditEvent.event.endswith("." + outcome)
                            | AuditEvent.event.endswith("_" + outcome))
    if given["connector"]:
        query = query.where(AuditEvent.connector == given["connector"])
    for name, end in (("since", False), ("until", True)):
        if not given[name]:
            continue
        moment = _moment(given[name], end)
        if moment is None:
            problems[name] = _("%(field)s: “%(value)s” is not a date and time like 2026-12-01T08:30.",
                               field=name, value=given[name])
        else:
            query = query.where(AuditEvent.at < moment if end else AuditEvent.at >= moment)
    return query, given, problems


@bp.get("/audit")
@require()
def audit():
    """The audit log, newest first, 100 a page."""
    query, given, problems = filtered(request.args)
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    rows = list(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1))  # one more: a next page?
    ids = {row.user_id for row in rows if row.user_id}
    # Who each user is, in one query; a user deleted since has no page: their id is shown.
    names = {user.id: user.email or user.username or user.id
             for user in User.select(User.id, User.email, User.username).where(User.id.in_(ids))}
    return render_template("admin/audit.html", events=rows[:PAGE_SIZE], more=len(rows) > PAGE_SIZE,
                           names=names, shown_details=shown_details,
                           page=page, given=given, problems=problems,
                           active={name: value for name, value in given.items() if value},
                           connector_names=sorted(connectors.instances()))


def shown_details(details: dict | None) -> dict:
    """An event's details as a page shows them: the empty ones (``before: null``) left out."""
    return {key: value for key, value in (details or {}).items() if value not in (None, "", [], {})}


def as_line(event: AuditEvent) -> str:
    """One event as one line of JSON (times in UTC with a ``Z``)."""
    return json.dumps({"id": event.id, "at": event.at.isoformat() + "Z", "event": event.event,
                       "user_id": event.user_id, "client_id": event.client_id,
                       "connector": event.connector, "ip": event.ip, "details": event.details},
                      default=str, ensure_ascii=False) + "\n"


@bp.get("/audit.jsonl")
@require()
def audit_export():
    """The filtered events as JSON Lines, one object a line, newest first, streamed."""
    query, _given, problems = filtered(request.args)
    if problems:
        return Response("".join(f"{problem}\n" for problem in problems.values()), status=400,
                        mimetype="text/plain")

    def lines():
        with db.connection_context():  # the request's connection is gone while streaming
            for event in query.iterator():
                yield as_line(event)

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Response(stream_with_context(lines()), mimetype="application/x-ndjson",
                    headers={"Content-Disposition": f'attachment; filename="ferry-audit-{stamp}.jsonl"'})
