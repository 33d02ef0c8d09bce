"""Portal, migration dashboard: viewers and admins read it, strangers are sent to sign in, it is
in the menu; the numbers on the page equal counts made independently from the database; every
chart is well-formed SVG with its text alternative; a connector named like markup is escaped;
an empty database is told as such (no roster, not enough data for a forecast)."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

from models import RosterEntry, db, utcnow
from tests.admin.conftest import signed_in
from tests.lifecycle.test_stats import NASTY, seed

SVG = "{http://www.w3.org/2000/svg}"


def page_of(client) -> str:
    response = client.get("/admin/migration")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def table_rows(page: str, caption: str) -> dict[str, list[str]]:
    """The rows (by their header cell) of the table after the ``<summary>`` or caption text."""
    start = page.index(caption)
    table = page[page.index("<tbody>", start):page.index("</tbody>", start)]
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table, re.S):
        cells = [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
                 for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        rows[cells[0]] = cells[1:]
    return rows


def count(text: str) -> int:
    return int(text.replace(",", ""))


def sql(app, query: str, *params) -> list[tuple]:
    with app.app_context(), db.connection_context():
        return list(db.execute_sql(query, params).fetchall())


def test_viewers_read_it_strangers_sign_in_first(portal_app):
    assert portal_app.test_client().get("/admin/migration").status_code == 302
    page = page_of(signed_in(portal_app, "viewer"))
    assert '<a href="/admin/migration" aria-current="page">Migration</a>' in page


def test_the_numbers_equal_the_database(portal_app):
    seed(portal_app)
    page = page_of(signed_in(portal_app))
    progress = table_rows(page, "Table: migrated and remaining, by connector")
    for connector, migrated, remaining in sql(portal_app, (
            "SELECT connector, COUNT(user_id), COUNT(*) - COUNT(user_id) FROM roster_entry "
            "GROUP BY connector")):
        assert [count(cell) for cell in progress[connector][:3]] == [migrated, remaining,
                                                                       migrated + remaining]
    migrated, total = sql(portal_app, "SELECT COUNT(user_id), COUNT(*) FROM roster_entry")[0]
    assert f"{migrated} of {total} roster entries migrated" in page

    per_day = table_rows(page, "Table: migrations per day")
    since = utcnow().date() - timedelta(days=29)
    assert sum(count(cells[0]) for cells in per_day.values()) == sql(
        portal_app, "SELECT COUNT(*) FROM roster_entry WHERE migrated_at >= ?", since)[0][0]

    failures = table_rows(page, "Table: failures by reason")
    assert count(failures["Legacy IdP unavailable"][0]) == sql(
        portal_app, "SELECT COUNT(*) FROM audit_event WHERE event = 'legacy.unavailable'")[0][0]
    assert failures["Legacy IdP unavailable"][1] == "csv: 1, ldap: 3"
    assert count(failures["Wrong password, PIN or passkey"][0]) == sql(
        portal_app, "SELECT COUNT(*) FROM audit_event WHERE event IN ('signin.failed', "
        "'legacy.refused') AND at >= ?", utcnow() - timedelta(days=30))[0][0]

    latency = table_rows(page, "Table: legacy latency")
    assert latency["csv"] == ["100", "0", "50 ms", "95 ms"]
    assert latency["ldap"] == ["7", "2", "5 ms", "2,000 ms"]

    funnel = table_rows(page, "Table: enrollment")
    assert count(funnel["Migrated users"][0]) == sql(
        portal_app, "SELECT COUNT(DISTINCT user_id) FROM roster_entry")[0][0]
    assert count(funnel["Passkey"][0]) == sql(
        portal_app, "SELECT COUNT(DISTINCT user_id) FROM passkey_credential")[0][0]
    assert count(funnel["PIN"][0]) == sql(
        portal_app, "SELECT COUNT(DISTINCT user_id) FROM pin_credential")[0][0]
    assert [funnel[step][0] for step in ("Offered an authenticator", "Skipped", "To be reminded")] \
        == ["13", "4", "4"]

    remaining = sql(portal_app, "SELECT COUNT(*) FROM roster_entry WHERE user_id IS NULL")[0][0]
    assert f"{remaining} roster entries have not migrated." in page
    legacy = table_rows(page, "Sign-ins still hitting the legacy IdP")
    assert legacy["csv"] == ["3", "100"] and legacy[NASTY] == ["1", "0"]
    listed = page[page.index("The first 25 remaining entries"):]
    listed = listed[:listed.index("</tbody>")]
    assert listed.count("<tr>") == 1 + 25  # the header row and 25 entries
    newest = sql(portal_app, "SELECT email FROM roster_entry WHERE user_id IS NULL ORDER BY "
                             "legacy_last_signin_at DESC LIMIT 1")[0][0]
    assert listed.index(newest) < listed.index("unknown")


def test_the_charts_are_svg_with_a_text_alternative(portal_app):
    seed(portal_app)
    page = page_of(signed_in(portal_app))
    charts = re.findall(r"<svg .*?</svg>", page, re.S)
    assert len(charts) == 6
    for chart in charts:
        root = ET.fromstring(chart)  # noqa: S314 (our own output)
        assert root.get("role") == "img"
        title_id, desc_id = root.get("aria-labelledby").split()
        assert root.find(f"{SVG}title").get("id") == title_id and root.find(f"{SVG}title").text
        assert root.find(f"{SVG}desc").get("id") == desc_id and root.find(f"{SVG}desc").text
    progress = ET.fromstring(charts[0])  # noqa: S314
    assert "30 of 65 roster entries migrated (46%)" in progress.find(f"{SVG}desc").text
    assert NASTY in progress.find(f"{SVG}desc").text  # escaped in the page, whole once parsed
    assert "<script" not in page and NASTY not in page and html.escape(NASTY) in page
    assert "http://" not in page.split("<main", 1)[1].replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_an_empty_database_is_told_as_such(portal_app):
    page = page_of(signed_in(portal_app))
    assert "The roster is empty" in page
    assert "95%: no date, the roster is empty." in page
    assert "No failure in the period." in page and "No legacy call in the period." in page
    for chart in re.findall(r"<svg .*?</svg>", page, re.S):
        ET.fromstring(chart)  # noqa: S314


def roster(app, migrated_days_ago: list[int], entries: int = 100) -> None:
    """``entries`` roster entries, one migrated at noon of each day ``migrated_days_ago``."""
    today = utcnow().date()
    with app.app_context(), db.connection_context():
        for index in range(entries):
            at = None
            if index < len(migrated_days_ago):
                at = datetime.combine(today - timedelta(days=migrated_days_ago[index]),
                                      datetime.min.time()) + timedelta(hours=12)
            RosterEntry.create(connector="csv", email=f"u{index}@example.org", source="t",
                               user_id=f"{index:032d}" if at else None, migrated_at=at)


def test_a_forecast_needs_days_of_history(portal_app):
    roster(portal_app, [1, 1, 2, 2, 3])  # migrations began three days ago
    page = page_of(signed_in(portal_app))
    assert "95%: not enough data yet (at least 7 days of migrations are needed)." in page


def test_no_progress_gives_no_date(portal_app):
    roster(portal_app, [60, 61, 62])  # nothing in the last 28 days
    page = page_of(signed_in(portal_app))
    assert "95%: no date, the migration is not progressing." in page
    assert "99%: no date, the migration is not progressing." in page


def test_the_seeded_migration_has_dated_forecasts(portal_app):
    seed(portal_app)
    page = page_of(signed_in(portal_app))
    assert re.search(r"<li>95% around \w+ \d+, \d{4} \(between \w+ \d+, \d{4} and", page)
    assert re.search(r"Fitted on the last \d+ days: about [\d.]+% of the remaining users", page)
