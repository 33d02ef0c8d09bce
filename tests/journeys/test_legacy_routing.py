"""Several legacy sources at once: routing by e-mail domain and an ordered fallback list."""

from __future__ import annotations

from tests.accounts import count_users
from tests.conftest import SignIn, deployment, ropc_connector

DOWN = {"token_url": "http://127.0.0.1:9/token", "connect_timeout": 0.5}


def journey_with(legacy_step: dict) -> dict:
    legacy = {"type": "legacy_password",
              "on": {"success": "create", "wrong_credentials": "collect",
                     "unavailable": "unavailable", "throttled": "collect"}, **legacy_step}
    return {"sign-in": {"start": "collect", "steps": {
        "collect": {"type": "collect", "on": {"submitted": "legacy"}},
        "legacy": legacy,
        "create": {"type": "create_user",
                   "on": {"created": "done", "linked": "done", "conflict": "done"}},
        "unavailable": {"type": "notice", "title": "Try later", "on": {"continue": "collect"}},
        "done": {"type": "complete"}}}}


def build(make_app, server, legacy_step):
    return make_app(DEPLOYMENT=deployment(
        {"legacy": ropc_connector(server), "down": ropc_connector(server, **DOWN)},
        journeys=journey_with(legacy_step)))


def test_fallback_list_skips_a_source_that_is_down(make_app, password_grant_server):
    app = build(make_app, password_grant_server, {"connectors": ["down", "legacy"]})
    response = SignIn(app.test_client()).sign_in("alice@example.com", "wonderland-1865")
    assert response.status_code == 303 and "code=" in response.headers["Location"]


def test_wrong_password_at_one_and_outage_at_another_is_not_counted(make_app, password_grant_server):
    app = build(make_app, password_grant_server, {"connectors": ["legacy", "down"]})
    response = SignIn(app.test_client()).sign_in("alice@example.com", "wrong")
    assert "Try later" in response.get_data(as_text=True)
    assert count_users(app) == 0


def test_routing_by_domain(make_app, password_grant_server):
    app = build(make_app, password_grant_server,
                {"route_by_domain": {"example.com": "legacy", "*": "down"}})
    ok = SignIn(app.test_client()).sign_in("alice@example.com", "wonderland-1865")
    assert ok.status_code == 303
    other = SignIn(app.test_client()).sign_in("someone@elsewhere.org", "whatever")
    assert "Try later" in other.get_data(as_text=True)
    assert count_users(app) == 1


def test_unrouted_optional_outcomes_are_accepted(make_app, password_grant_server):
    app = build(make_app, password_grant_server, {"connector": "legacy"})
    assert "sign-in" in app.extensions["ferry.journeys"].journeys
