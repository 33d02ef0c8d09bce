"""Saving a journey run: only real changes are written, and a stale copy never overwrites."""

from __future__ import annotations

import pytest

from journeys import run as runs
from journeys.errors import StaleRun
from models import JourneyRun, db
from tests.conftest import SignIn


def _stored(app) -> JourneyRun:
    with app.app_context(), db.connection_context():
        return JourneyRun.get()


def test_showing_the_same_page_again_writes_nothing(app, client):
    walker = SignIn(client)
    walker.start()  # the first showing, /authorize's answer, keeps the page's passkey challenge
    shown_once = _stored(app)
    walker.open()
    walker.open()
    shown = _stored(app)
    assert (shown.version, shown.updated_at) == (shown_once.version, shown_once.updated_at)
    walker.post(identifier="dana@example.com", password="not known here")
    assert _stored(app).version == shown_once.version + 1, "a changed run was not saved"


def test_a_copy_saved_meanwhile_makes_the_other_stale(app):
    with app.app_context(), db.connection_context():
        token, _run = runs.create("sign-in", "collect", 60, None, {})
        first, second = runs.load(token), runs.load(token)
        first.context["identifier"] = "a@example.com"
        runs.save(first)
        second.context["identifier"] = "b@example.com"
        with pytest.raises(StaleRun):
            runs.save(second)
        assert runs.load(token).context["identifier"] == "a@example.com"


def test_a_change_inside_a_nested_value_is_saved(app):
    with app.app_context(), db.connection_context():
        token, _run = runs.create("sign-in", "collect", 60, None, {"amr": ["pwd"]})
        run = runs.load(token)
        run.context["amr"].append("otp")  # the list is shared with the loaded row
        runs.save(run)
        assert runs.load(token).context["amr"] == ["pwd", "otp"]
