"""Fixtures and helpers for connector tests: the legacy servers, and walking a sign-in at them."""

from __future__ import annotations

import html

import pytest

from app import create_app
from models import database
from security.throttle import throttle
from tests.conftest import SignIn, deployment, form_fields
from tests.connectors.scripted_idp import ScriptedIdp

#: What the sign-in pages say (default journey and texts), once HTML entities are decoded.
UNAVAILABLE = "We can't check your password right now"
WRONG_CREDENTIALS = "That e-mail address and password don't match"
THROTTLED = "Too many attempts"
#: The throttle scope of password sign-ins. A literal on purpose: the wrong-password test
#: proves it is the scope the steps count in, so a rename cannot make the checks vacuous.
PASSWORD_SCOPE = "password"


@pytest.fixture
def dot(password_grant_server):
    """The real password-grant server (Django OAuth Toolkit), started if a test stopped it."""
    if not password_grant_server.running:
        password_grant_server.start()
    return password_grant_server


@pytest.fixture
def scripted_idp():
    with ScriptedIdp() as idp:
        yield idp


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def sign_in_attempts(app, identifier: str, password: str, times: int) -> list:
    """One browser tries to sign in ``times`` times, pressing "Try again" where it is offered.

    Returns every answer to the posted password; each must be a page (200) to go on.
    """
    walker = SignIn(app.test_client())
    answers = [walker.sign_in(identifier, password)]
    while len(answers) < times:
        assert answers[-1].status_code == 200, page_text(answers[-1])[:800]
        if current_step(walker) != "collect":
            pressed = walker.post()  # the notice page's only button
            assert pressed.status_code == 200, page_text(pressed)[:800]
        assert current_step(walker) == "collect"
        answers.append(walker.post(identifier=identifier, password=password))
    return answers


def current_step(walker: SignIn) -> str | None:
    return form_fields(walker.page.get_data(as_text=True)).get("step")


def retry_after(app, identifier: str) -> int:
    """Seconds the password throttle makes ``identifier`` wait (0: not throttled)."""
    with app.app_context():
        return throttle().retry_after(PASSWORD_SCOPE, identifier)


def connector_level_app(tmp_path_factory):
    """One Ferry for a module's connector-level tests, torn down after it: they build
    connectors from its config and never use its database (whole sign-ins build their own with
    ``make_app``). A family's conftest makes it its module-scoped ``app`` fixture."""
    yield create_app({"TESTING": True, "SECRET_KEY": "test-secret-key", "ISSUER": "http://localhost",
                      "CONFIG_FILE": None, "DEPLOYMENT": deployment(),
                      "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('ferry')}/ferry.db"})
    database.shutdown()
