"""Portal, audit log: each filter (user by id or e-mail, event prefix, outcome, connector, time
range), newest first and paginated, a filter that cannot be read named on the page, and the
JSON Lines export of exactly the filtered events (streamed, a download). Viewers may read and
export; strangers are sent to the portal's sign-in."""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest

from blueprints.admin import audit as audit_view
from models import AuditEvent, User, db
from tests.admin.conftest import signed_in
from tests.admin.test_users import text

ADA = "0" * 31 + "a"


@pytest.fixture
def trail(portal_app):
    """Seven events over two days, of two users and two connectors."""
    rows = [
        ("2026-12-01T08:00:00", "legacy.verified", None, "csv", {"subject": "legacy-1"}),
        ("2026-12-01T08:00:01", "user.migrated", ADA, "csv", {}),
        ("2026-12-01T09:30:00", "signin.failed", ADA, None, {"reason": "wrong_password"}),
        ("2026-12-01T23:59:30", "signin.password", ADA, None, {}),
        ("2026-12-02T07:00:00", "legacy.code_failed", None, "ldap", {}),
        ("2026-12-02T08:00:00", "signout", ADA, None, {}),
        ("2026-12-02T09:00:00", "signin.failed", "b" * 32, None, {"reason": "wrong_password"}),
    ]
    with portal_app.app_context(), db.connection_context():
        User.create(id=ADA, email="ada@example.org")
        for at, event, user_id, connector, details in rows:
            AuditEvent.create(at=datetime.fromisoformat(at), event=event, user_id=user_id,
                              connector=connector, details=details, client_id="test-app")
    return portal_app


def listed(client, **filters) -> list[str]:
    """The events the page lists, top to bottom."""
    page = client.get("/admin/audit", query_string=filters)
    assert page.status_code == 200
    return re.findall(r'<tr><td>[0-9: -]+</td><td><span class="admin-code admin-users-event">([^<]+)</span>',
                      page.get_data(as_text=True))


def test_newest_first(trail):
    assert listed(signed_in(trail)) == ["signin.failed", "signout", "legacy.code_failed",
                                        "signin.password", "signin.failed", "user.migrated",
                                        "legacy.verified"]


def test_by_user_id_and_by_email(trail):
    admin = signed_in(trail)
    hers = ["signout", "signin.password", "signin.failed", "user.migrated"]
    assert listed(admin, user=ADA) == hers
    assert listed(admin, user="ADA@example.org ") == hers
    page = admin.get("/admin/audit", query_string={"user": ADA}).get_data(as_text=True)
    assert f'href="/admin/users/{ADA}"' in page
    assert "No event matches" in text(admin.get("/admin/audit", query_string={"user": "eve@example.org"}))


def test_by_event_prefix(trail):
    assert listed(signed_in(trail), event="signin") == ["signin.failed", "signin.password",
                                                         "signin.failed"]
    assert listed(signed_in(trail, email="b@example.com"), event="user.") == ["user.migrated"]


def test_by_outcome(trail):
    assert listed(signed_in(trail), outcome="failed") == ["signin.failed", "legacy.code_failed",
                                                           "signin.failed"]


def test_by_connector(trail):
    assert listed(signed_in(trail), connector="csv") == ["user.migrated", "legacy.verified"]


@pytest.mark.parametrize(("since", "until", "expected"), [
    ("2026-12-01", "2026-12-01", {"legacy.verified", "user.migrated", "signin.failed", "signin.password"}),
    ("2026-12-01T09:00", "2026-12-01T23:59", {"signin.failed", "signin.password"}),  # the whole minute
    ("2026-12-02T07:00:00", "", {"legacy.code_failed", "signout", "signin.failed"}),
    ("", "2026-12-01T08:00:00", {"legacy.verified"}),
    ("2026-12-02T09:00:00+01:00", "2026-12-02T09:00+01:00", {"signout"}),  # 08:00 UTC
])
def test_by_time_range(trail, since, until, expected):
    assert set(listed(signed_in(trail), since=since, until=until)) == expected


def test_filters_combine(trail):
    assert listed(signed_in(trail), user=ADA, outcome="failed", since="2026-12-01",
                  until="2026-12-01") == ["signin.failed"]


def test_a_date_that_is_no_date_is_named_and_not_applied(trail):
    page = signed_in(trail).get("/admin/audit", query_string={"since": "yesterday", "event": "user."})
    words = text(page)
    assert "since: “yesterday” is not a date and time like 2026-12-01T08:30." in words
    assert "user.migrated" in words  # the other filters still apply
    assert 'aria-invalid="true"' in page.get_data(as_text=True)
    assert "Export these events" not in words
    refused = signed_in(trail, "viewer", "v2@example.com").get(
        "/admin/audit.jsonl", query_string={"since": "yesterday"})
    assert refused.status_code == 400 and "since:" in refused.get_data(as_text=True)


def test_the_log_is_paginated(trail, monkeypatch):
    monkeypatch.setattr(audit_view, "PAGE_SIZE", 3)
    admin = signed_in(trail)  # its own sign-in adds no event: seven in all
    first = admin.get("/admin/audit").get_data(as_text=True)
    assert "Older events" in first and "Newer events" not in first
    assert listed(admin) == ["signin.failed", "signout", "legacy.code_failed"]
    assert listed(admin, page=2) == ["signin.password", "signin.failed", "user.migrated"]
    third = text(admin.get("/admin/audit", query_string={"page": 3}))
    assert "Older events" not in third and "Newer events" in third
    assert listed(admin, page=3) == ["legacy.verified"]
    assert listed(admin, page=2, user=ADA) == ["user.migrated"]


def lines(response) -> list[dict]:
    return [json.loads(line) for line in response.get_data(as_text=True).splitlines()]


def test_the_export_is_the_filtered_events_as_json_lines(trail):
    viewer = signed_in(trail, "viewer")
    exported = viewer.get("/admin/audit.jsonl", query_string={"outcome": "failed"})
    assert exported.status_code == 200 and exported.is_streamed
    assert exported.mimetype == "application/x-ndjson"
    disposition = exported.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and disposition.endswith('.jsonl"')
    rows = lines(exported)
    assert [row["event"] for row in rows] == ["signin.failed", "legacy.code_failed", "signin.failed"]
    assert rows[0]["at"] == "2026-12-02T09:00:00Z" and rows[0]["details"] == {"reason": "wrong_password"}
    assert set(rows[0]) == {"id", "at", "event", "user_id", "client_id", "connector", "ip", "details"}
    page = viewer.get("/admin/audit", query_string={"outcome": "failed"}).get_data(as_text=True)
    assert "/admin/audit.jsonl?outcome=failed" in page


def test_the_export_is_not_limited_to_a_page(trail):
    with trail.app_context(), db.connection_context():
        AuditEvent.insert_many([{"event": "bulk.thing", "details": {"n": n}} for n in range(250)]).execute()
    rows = lines(signed_in(trail).get("/admin/audit.jsonl", query_string={"event": "bulk."}))
    assert len(rows) == 250 and {row["details"]["n"] for row in rows} == set(range(250))


def test_strangers_are_sent_to_the_sign_in(trail):
    for path in ("/admin/audit", "/admin/audit.jsonl"):
        response = trail.test_client().get(path)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
