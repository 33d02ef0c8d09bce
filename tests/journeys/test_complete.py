"""``complete``: every sign-in ends here, and here the browser becomes a known device for the
identifier it signed in with, whatever proved it (``security/known_devices.py``).

A federated sign-in (the scripted OpenID Provider) stands for the ways that have no step of
their own to remember the browser (federation, passkey, PIN, a new account).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from security import known_devices
from tests.connectors.oidc.flow import Browser, ferry, scripted_connector
from tests.peers.oidc_scripted import ScriptedOidcProvider


@pytest.fixture
def scripted() -> Iterator[ScriptedOidcProvider]:
    with ScriptedOidcProvider() as idp:
        yield idp


def device_of(app, browser: Browser, identifier: str) -> str | None:
    """What Ferry reads from this browser's cookies for ``identifier``."""
    cookie = browser.client.get_cookie(known_devices.COOKIE)
    headers = {"Cookie": f"{known_devices.COOKIE}={cookie.value}"} if cookie else {}
    with app.test_request_context("/login", headers=headers):
        return known_devices.device_for(identifier)


def test_a_federated_sign_in_makes_the_browser_a_known_device(make_app, scripted):
    app = ferry(make_app, scripted_connector(scripted), KNOWN_DEVICE_LIFETIME=86400)
    browser = Browser(app)
    assert device_of(app, browser, "alice@example.com") is None
    done = browser.back_and_on(scripted.authorize(browser.to_provider()))
    assert browser.app_id_token(done)["email"] == "alice@example.com"
    assert device_of(app, browser, "alice@example.com") is not None
    assert device_of(app, browser, "bob@example.com") is None
    assert device_of(app, Browser(app), "alice@example.com") is None  # another browser


def test_no_known_device_cookie_when_the_lifetime_is_zero(make_app, scripted):
    app = ferry(make_app, scripted_connector(scripted), KNOWN_DEVICE_LIFETIME=0)
    browser = Browser(app)
    browser.app_id_token(browser.back_and_on(scripted.authorize(browser.to_provider())))
    assert browser.client.get_cookie(known_devices.COOKIE) is None
