"""Journeys are validated when loaded: a broken one stops start-up with a clear message."""

from __future__ import annotations

import pytest

from journeys.definition import default_tables, load_journeys, parse_journey
from journeys.steps import ValidationContext
from settings.errors import ConfigError

CONTEXT = ValidationContext()


def journey(**steps) -> dict:
    return {"start": next(iter(steps)), "steps": steps}


def problems(table: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_journey("j", table, CONTEXT)
    return caught.value.problems


def test_shipped_journeys_are_valid(app):
    with app.app_context():
        journeys = load_journeys({}, ValidationContext(connectors={}))
    assert set(default_tables()) <= set(journeys)
    assert journeys["sign-in"].start == "collect"


def test_unknown_step_type_is_named():
    found = problems(journey(a={"type": "teleport"}))
    assert any("unknown step type 'teleport'" in p and "collect" in p for p in found)


def test_missing_target_and_unrouted_outcome():
    found = problems(journey(
        a={"type": "collect", "on": {"submitted": "nowhere"}},
        b={"type": "local_password", "on": {"success": "done"}},
        done={"type": "complete"}))
    assert "journeys.j.steps.a.on.submitted: no step named 'nowhere'" in found
    assert any("steps.b.on: outcome 'failure' is not routed" in p for p in found)


def test_unknown_setting_is_named():
    found = problems(journey(
        a={"type": "collect", "colour": "red", "on": {"submitted": "done"}},
        done={"type": "complete"}))
    assert "journeys.j.steps.a.colour: unknown setting" in found


def test_unknown_outcome_is_named():
    found = problems(journey(
        a={"type": "collect", "on": {"submitted": "done", "maybe": "done"}},
        done={"type": "complete"}))
    assert any("on.maybe: collect has no such outcome" in p for p in found)


def test_a_closed_loop_is_refused():
    found = problems(journey(
        a={"type": "collect", "on": {"submitted": "b"}},
        b={"type": "notice", "title": "t", "on": {"continue": "a"}},
        done={"type": "complete"}))
    assert any("no terminal step" in p for p in found)


def test_start_must_exist():
    found = problems({"start": "x", "steps": {"done": {"type": "complete"}}})
    assert "journeys.j.start: 'x' is not one of its steps" in found


def test_legacy_step_names_a_password_connector():
    with pytest.raises(ConfigError) as caught:
        parse_journey("j", journey(
            l={"type": "legacy_password", "connector": "ghost",
               "on": {"success": "d", "wrong_credentials": "d", "unavailable": "d",
                      "throttled": "d"}},
            d={"type": "complete"}), CONTEXT)
    assert "journeys.j.steps.l: connector: no connector named 'ghost'" in caught.value.problems


def test_bad_journey_in_config_stops_the_app(make_app):
    with pytest.raises(ConfigError) as caught:
        make_app(DEPLOYMENT={"journeys": {"broken": journey(a={"type": "nope"})}})
    assert "journeys.broken.steps.a.type" in str(caught.value)


def test_a_shipped_journey_can_be_changed_in_place_or_replaced(app):
    context = ValidationContext(connectors={})
    with app.app_context():
        changed = load_journeys(
            {"sign-in": {"steps": {"unavailable": {"title": "Back soon"}}}}, context)
        replaced = load_journeys({"sign-in": {"replace": True, "start": "only", "steps": {
            "only": {"type": "reject", "title": "Closed"}}}}, context)
    assert changed["sign-in"].step("unavailable").settings.title == "Back soon"
    assert changed["sign-in"].step("legacy").type == "legacy_password", "the rest was lost"
    assert list(replaced["sign-in"].steps) == ["only"]
