"""Walking the self-service journeys (forgot password, sign-up, change password and e-mail)
like a browser, reading codes from a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import html

from models import PasswordCredential, User, UserSession, db
from tests.conftest import SignIn

NEW_PASSWORD = "a brand new passphrase 7"


def text(response) -> str:
    """The page as a person reads it."""
    return html.unescape(response.get_data(as_text=True))


def start(app, journey: str, browser: SignIn | None = None) -> SignIn:
    """An app's sign-in, then the sign-in page's link to ``journey``."""
    browser = browser or SignIn(app.test_client())
    browser.start()
    response = browser.client.get(f"/journeys/{journey}")
    assert response.status_code == 303, text(response)[:300]
    browser.page = browser.client.get("/login")
    assert browser.page.status_code == 200
    return browser


def user_row(app, email: str) -> User | None:
    """The local user with ``email``, read fresh."""
    with app.app_context(), db.connection_context():
        return User.get_or_none(User.email == email)


def password_source(app, email: str) -> str | None:
    """Where the user's password came from (``local``, ``legacy:<connector>``), or None."""
    with app.app_context(), db.connection_context():
        row = (PasswordCredential.select().join(User).where(User.email == email).first())
        return row.source if row else None


def live_sessions(app, user_id: str) -> int:
    """How many Ferry sessions of the user are still live."""
    with app.app_context(), db.connection_context():
        return UserSession.select().where((UserSession.user == user_id)
                                          & UserSession.ended_at.is_null()).count()
