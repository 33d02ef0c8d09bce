"""Portal: the journey editor's step forms (generated from each step type's settings, routes as
selects of targets), and the tables behind them: the smallest overlay of a shipped journey, or
the whole journey with ``replace = true`` when a step form removes something; problems sorted
by step and field, and found at their line of the TOML."""

from __future__ import annotations

import pytest

from blueprints.admin.journeys_tables import Placed, listing, overlay_for, place, step_lines
from journeys import engine
from models import db
from tests.admin.conftest import csrf, signed_in
from tests.admin.test_journeys import GOOD, save, step_part, stored
from tests.journeys.selfservice import text


def post_step(client, journey: str, step: str, **fields):
    data = {"csrf_token": csrf(client, "/admin/journeys"), "step": step, "action": "save", **fields}
    return client.post(f"/admin/journeys/{journey}/steps", data=data)


def running(app, journey: str):
    with app.test_request_context("/admin/"), db.connection_context():
        from store import live

        live.check(app)
        return engine().journeys[journey]


UNAVAILABLE = {"type": "notice", "title": "Resting", "message": "Back soon.", "button": "Try again",
               "on.continue": "collect"}


def test_a_step_form_saves_the_smallest_overlay(portal_app, admin_client):
    done = post_step(admin_client, "sign-in", "unavailable", **UNAVAILABLE)
    assert done.status_code == 303 and done.headers["Location"].endswith("#step-unavailable")
    assert stored(portal_app, "sign-in") == {"steps": {"unavailable": {
        "title": "Resting", "message": "Back soon."}}}
    assert running(portal_app, "sign-in").step("unavailable").settings.title == "Resting"


def test_removing_what_the_shipped_journey_has_replaces_it_whole(portal_app, admin_client):
    done = post_step(admin_client, "sign-in", "collect", type="collect", identifier="email",
                     __shown=["passkeys", "code", "pin"], passkeys="on", code="on",
                     **{"on.submitted": "local", "on.passkey": "done", "on.code": "send-code"})
    assert done.status_code == 303, text(done)[:3000]
    data = stored(portal_app, "sign-in")
    assert data["replace"] is True and data["steps"]["collect"]["pin"] is False
    assert "pin" not in data["steps"]["collect"]["on"]
    collect = running(portal_app, "sign-in").step("collect")
    assert collect.settings.pin is False and "pin" not in collect.settings.on
    page = text(admin_client.get("/admin/journeys/sign-in"))
    assert "Unreachable from the first step: pin." in page  # nothing leads to the PIN step now


def test_a_route_to_nowhere_and_a_missing_route_are_told_at_the_route(portal_app, admin_client):
    nowhere = post_step(admin_client, "sign-in", "unavailable", **{**UNAVAILABLE, "on.continue": "nowhere"})
    assert nowhere.status_code == 400
    part = step_part(text(nowhere), "unavailable")
    assert "no step named 'nowhere'" in part and "nowhere (no such step)" in part
    assert 'id="step-unavailable-on-continue-errors"' in part
    unrouted = post_step(admin_client, "sign-in", "local", type="local_password",
                         **{"on.success": "policy", "on.failure": "collect", "on.throttled": "collect"})
    assert unrouted.status_code == 400
    assert "outcome 'no_credential' is not routed" in step_part(text(unrouted), "local")
    assert stored(portal_app, "sign-in") is None


def test_a_setting_of_the_wrong_type_is_told_at_its_field(portal_app, admin_client):
    refused = post_step(admin_client, "add-passkey", "session", type="session_user", max_age="soon",
                        **{"on.found": "passkey", "on.reauthenticate": "sign-in-again"})
    assert refused.status_code == 400
    part = step_part(text(refused), "session")
    assert 'id="step-session-max_age-errors"' in part and 'value="soon"' in part
    too_small = post_step(admin_client, "add-passkey", "session", type="session_user", max_age="5",
                          **{"on.found": "passkey", "on.reauthenticate": "sign-in-again"})
    assert too_small.status_code == 400
    assert "greater than or equal to 30" in step_part(text(too_small), "session")
    assert stored(portal_app, "add-passkey") is None


def test_a_step_check_points_at_its_setting(portal_app, admin_client):
    refused = post_step(admin_client, "sign-in", "legacy", type="legacy_password", connector="ghost",
                        **{f"on.{o}": "collect" for o in ("success", "wrong_credentials", "unavailable",
                                                          "throttled")})
    assert refused.status_code == 400
    part = step_part(text(refused), "legacy")
    assert 'id="step-legacy-connector-errors"><li>no connector named &#39;ghost&#39;' in part \
        or "no connector named 'ghost'" in part[part.index('id="step-legacy-connector-errors"'):]


def test_showing_another_types_settings_saves_nothing(portal_app, admin_client):
    shown = post_step(admin_client, "sign-in", "unavailable", **{**UNAVAILABLE, "type": "reject",
                                                                  "action": "retype"})
    assert shown.status_code == 200
    part = step_part(text(shown), "unavailable")
    assert 'id="step-unavailable-title"' in part and 'name="on.continue"' not in part
    assert "This step ends the journey" in part
    assert stored(portal_app, "sign-in") is None
    unknown = post_step(admin_client, "sign-in", "unavailable", **{**UNAVAILABLE, "type": "nope"})
    assert unknown.status_code == 400 and "Choose one of the step types" in text(unknown)


def test_adding_a_step(portal_app, admin_client):
    draft = text(admin_client.get("/admin/journeys/sign-in?add_name=farewell&add_type=notice"))
    part = step_part(draft, "farewell")
    assert "new, not saved yet" in part and 'name="new" value="1"' in part and 'name="on.continue"' in part
    taken = text(admin_client.get("/admin/journeys/sign-in?add_name=collect&add_type=notice"))
    assert "The journey has a step collect already" in taken
    added = post_step(admin_client, "sign-in", "farewell", new="1", type="notice", title="Bye",
                      **{"on.continue": "collect"})
    assert added.status_code == 303
    assert stored(portal_app, "sign-in") == {"steps": {"farewell": {
        "type": "notice", "title": "Bye", "on": {"continue": "collect"}}}}
    assert "farewell" in running(portal_app, "sign-in").steps
    again = post_step(admin_client, "sign-in", "farewell", new="1", type="notice", title="Bye",
                      **{"on.continue": "collect"})
    assert again.status_code == 400 and "Choose a step name the journey does not have" in text(again)


def test_removing_steps(portal_app, admin_client):
    first = post_step(admin_client, "greeting", "hello", action="remove")
    assert first.status_code == 404  # no such journey yet
    save(admin_client, "greeting", GOOD)
    start = post_step(admin_client, "greeting", "hello", action="remove", revision="1")
    assert start.status_code == 400 and "first step" in step_part(text(start), "hello")
    needed = post_step(admin_client, "greeting", "bye", action="remove", revision="1")
    assert needed.status_code == 400
    assert "no step named 'bye'" in step_part(text(needed), "hello")
    assert set(stored(portal_app, "greeting")["steps"]) == {"hello", "bye"}
    save(admin_client, "greeting", GOOD + '[steps.spare]\ntype = "reject"\n', revision="1")
    gone = post_step(admin_client, "greeting", "spare", action="remove", revision="2")
    assert gone.status_code == 303 and set(stored(portal_app, "greeting")["steps"]) == {"hello", "bye"}


def test_the_title_and_the_first_step(portal_app, admin_client):
    token = csrf(admin_client, "/admin/journeys")
    save(admin_client, "greeting", GOOD)
    done = admin_client.post("/admin/journeys/greeting/settings", data={
        "csrf_token": token, "title": "Hi there", "start": "hello", "revision": "1"})
    assert done.status_code == 303 and stored(portal_app, "greeting")["title"] == "Hi there"
    refused = admin_client.post("/admin/journeys/greeting/settings", data={
        "csrf_token": token, "start": "nowhere", "revision": "2"})
    assert refused.status_code == 400 and "journeys.greeting.start: &#39;nowhere&#39;" in \
        refused.get_data(as_text=True)


def test_two_admins_saving_one_step(portal_app, admin_client):
    post_step(admin_client, "sign-in", "unavailable", **UNAVAILABLE)
    other = signed_in(portal_app, "admin", "grace@example.com")
    assert post_step(admin_client, "sign-in", "unavailable", **{**UNAVAILABLE, "title": "One"},
                     revision="1").status_code == 303
    late = post_step(other, "sign-in", "unavailable", **{**UNAVAILABLE, "title": "Two"}, revision="1")
    assert late.status_code == 409 and "changed by admin@example.com" in text(late)
    assert stored(portal_app, "sign-in")["steps"]["unavailable"]["title"] == "One"


def test_after_a_refused_toml_the_step_forms_only_show_it(portal_app, admin_client):
    refused = text(save(admin_client, "sign-in", '[steps.greeting]\ntype = "no_such_step"\n'))
    assert "The steps below show the TOML you tried" in refused
    assert "Validate and save step" not in refused and "Add the step" not in refused


# -- the tables behind the forms ---------------------------------------------------------------

@pytest.mark.parametrize(("base", "target", "expected"), [
    ({"a": 1}, {"a": 1}, {}),
    ({"a": 1}, {"a": 2}, {"a": 2}),
    ({"a": 1}, {"a": 1, "b": 2}, {"b": 2}),
    ({"s": {"x": {"t": 1, "on": {"o": "y"}}}}, {"s": {"x": {"t": 1, "on": {"o": "z"}}}},
     {"s": {"x": {"on": {"o": "z"}}}}),
    ({"a": 1, "b": 2}, {"a": 1}, None),
    ({"s": {"x": {"on": {"o": "y", "p": "q"}}}}, {"s": {"x": {"on": {"o": "y"}}}}, None),
    ({"a": {"b": 1}}, {"a": 3}, {"a": 3}),
])
def test_overlay_for(base, target, expected):
    assert overlay_for(base, target) == expected


def test_place_sorts_problems_by_step_and_field():
    table = {"steps": {"legacy": {"type": "legacy_password"}, "legacy-mfa": {"type": "legacy_mfa"},
                       "loop": {"type": "notice"}}}
    placed = place("j", [
        "journeys.j.steps.legacy.on.success: no step named 'x'",
        "journeys.j.steps.legacy-mfa.max_attempts: Input should be a valid integer",
        "journeys.j.steps.legacy: connector: no connector named 'ghost'",
        "journeys.j.steps.legacy.on: outcome 'throttled' is not routed",
        "journeys.j.steps.loop: no terminal step is reachable from here",
        "journeys.j.start: 'nope' is not one of its steps",
        "journeys.j: no terminal step (complete, reject) is reachable from 'loop'",
        "apps.shop.journey: no journey named 'j'",
    ], table)
    assert placed.of("legacy") == {"on.success": ["no step named 'x'"],
                                   "connector": ["no connector named 'ghost'"],
                                   "on.throttled": ["outcome 'throttled' is not routed"]}
    assert placed.of("legacy-mfa") == {"max_attempts": ["Input should be a valid integer"]}
    assert placed.of("loop") == {"": ["no terminal step is reachable from here"]}
    assert len(placed.journey) == 2 and placed.other == ["apps.shop.journey: no journey named 'j'"]


def test_step_lines_finds_each_way_of_writing_a_step():
    toml = '\n'.join([
        'start = "a"',                      # 1
        '[steps.a]',                        # 2
        'type = "notice"',                  # 3
        '[steps."b c"]',                    # 4
        'title = "steps.d = x"',            # 5 (inside "b c")
        '[steps]',                          # 6
        'e = { type = "complete" }',        # 7
        '"f" .type = "complete"',           # 8
        '[steps.g.on]',                     # 9
    ])
    assert step_lines(toml, ["a", "b c", "d", "e", "f", "g", "h"]) == {
        "a": 2, "b c": 4, "e": 7, "f": 8, "g": 9}
    assert step_lines('steps.d = { type = "complete" }\n[steps.e]', ["d", "e"]) == {"d": 1, "e": 2}


def test_listing_puts_problems_at_their_line():
    placed = Placed()
    placed.add("a", "title", "Field required")
    lines = listing('start = "a"\n[steps.a]\ntype = "notice"\n', placed,
                    "Not valid TOML: Expected '=' (at line 3, column 5)")
    assert [line.problems for line in lines] == [
        (), ("a.title: Field required",), ("Not valid TOML: Expected '=' (at line 3, column 5)",)]
