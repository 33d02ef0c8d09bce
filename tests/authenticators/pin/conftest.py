"""Shared by the PIN tests: a Ferry with Alice and Bob, and the steps that set a PIN after a
password sign-in and open the PIN page. The device is a :class:`SoftAuthenticator`.
"""

from __future__ import annotations

import pytest

from models import AuditEvent, PinCredential, User, db
from tests.accounts import create_local_user
from tests.authenticators.soft_authenticator import SoftAuthenticator, options_of
from tests.authenticators.soft_authenticator import page_text as text
from tests.conftest import APP_REDIRECT, SignIn

ALICE, BOB = "alice@example.com", "bob@example.com"
PASSWORD = "correct horse battery"
PIN = "482915"


@pytest.fixture
def app(make_app):
    app = make_app()
    create_local_user(app, ALICE, PASSWORD)
    create_local_user(app, BOB, PASSWORD)
    return app


def set_pin(app, email: str, device: SoftAuthenticator, pin: str = PIN) -> SignIn:
    """Sign in with the password, take the offer's "Use a PIN", set ``pin`` on ``device``."""
    browser = SignIn(app.test_client())
    browser.start()
    offer = browser.post(identifier=email, password=PASSWORD, decline_offers=False)
    assert "Sign in faster next time" in text(offer)
    page = browser.post(pin="1", decline_offers=False)
    assert "Set a PIN for this device" in text(page)
    done = browser.post(pin=pin, confirm=pin, credential=device.create(options_of(page)),
                        decline_offers=False)
    assert done.headers["Location"].startswith(APP_REDIRECT), text(done)[:600]
    return browser


def pin_page(app, email: str) -> SignIn:
    """A new browser at the PIN page for ``email`` (sign-in page, "Use my PIN on this device")."""
    browser = SignIn(app.test_client())
    browser.start()
    page = browser.post(identifier=email, password="", alternative="pin")
    assert "Enter your PIN" in text(page), text(page)[:600]
    return browser


def stored_pin(app, email: str) -> PinCredential:
    with app.app_context(), db.connection_context():
        return PinCredential.select().join(User).where(User.email == email).get()


def audit(app, event: str) -> list[dict]:
    with app.app_context(), db.connection_context():
        return [e.details for e in AuditEvent.select().where(AuditEvent.event == event)]
