"""Fixtures of the admin portal's tests: a Ferry, and browsers signed in to its portal."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

import pytest

from models import AdminAccount, AdminSession, db, utcnow
from operators import accounts
from operators.sessions import SESSION_KEY, _hash
from tests.conftest import deployment

ADMIN_PASSWORD = "portal passphrase 2026"


@pytest.fixture
def portal_app(make_app):
    """A Ferry with the test deployment (``test-app``, ``spa``)."""
    return make_app(DEPLOYMENT=deployment())


def make_admin(app, email: str = "ada@example.com", role: str = "admin") -> AdminAccount:
    """An admin account with :data:`ADMIN_PASSWORD`."""
    with app.app_context(), db.connection_context():
        return accounts.create(email, ADMIN_PASSWORD, role)


def signed_in(app, role: str = "admin", email: str | None = None):
    """A test client signed in to the portal (as after the password and the passkey)."""
    admin = make_admin(app, email or f"{role}@example.com", role)
    client = app.test_client()
    token = f"test-{role}-{admin.id}"
    with app.app_context(), db.connection_context():
        AdminSession.create(id_hash=_hash(token), admin=admin.id, created_at=utcnow(),
                            expires_at=utcnow() + timedelta(hours=1))
    with client.session_transaction("/admin/") as session:
        session[SESSION_KEY] = token
    return client


@pytest.fixture
def admin_client(portal_app):
    """Signed in with the ``admin`` role."""
    return signed_in(portal_app, "admin")


@pytest.fixture
def viewer_client(portal_app):
    """Signed in with the ``viewer`` role."""
    return signed_in(portal_app, "viewer")


def csrf(client, path: str) -> str:
    """The portal's CSRF token, read from the page at ``path``."""
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or \
        re.search(r'value="([^"]+)"[^>]*name="csrf_token"', page)
    assert found, page[:500]
    return found.group(1)


def portal_cookie(app, admin: AdminAccount) -> dict:
    """A browser cookie (Playwright's shape) holding a portal session of ``admin``, as after the
    password and the passkey: for browsers that test the portal's pages, not its sign-in."""
    token = secrets.token_urlsafe(32)
    with app.app_context(), db.connection_context():
        AdminSession.create(id_hash=_hash(token), admin=admin.id, created_at=utcnow(),
                            expires_at=utcnow() + timedelta(hours=1))
    with app.test_request_context("/admin/"):
        name = app.session_interface.get_cookie_name(app)
        value = app.session_interface.get_signing_serializer(app).dumps({SESSION_KEY: token})
    return {"name": name, "value": value, "domain": "localhost", "path": "/admin", "httpOnly": True}
