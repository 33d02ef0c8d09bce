"""Portal, users: search by any identifier (paginated), and the user's page: profile, legacy
links with the migration record (the method read from the audit trail), ways in, sessions and
refresh tokens, the audit trail. The user is migrated for real, from a CSV export of a legacy
store (bcrypt hashes), by signing in through Ferry.

The fixtures here are shared by ``test_users_actions.py`` and ``test_users_delete.py``.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

import bcrypt
import pytest

from models import AuditEvent, LegacyLink, PasskeyCredential, PinCredential, User, db, utcnow
from provider import backchannel
from tests.admin.conftest import csrf, signed_in
from tests.conftest import APP_SECRET, SignIn, deployment, form_fields
from tests.connectors.hashes.legacy import hashes_table, people, write_csv
from tests.peers.logout_receiver import LogoutReceiver
from users import admin_ops

PASSWORD = "alice's legacy passphrase"
OFFLINE_REDIRECT = "http://localhost:8002/cb"


@pytest.fixture
def receiver():
    """A real loopback app that receives back-channel logout notices."""
    with LogoutReceiver() as running:
        yield running


@pytest.fixture
def csv_app(make_app, tmp_path, receiver, monkeypatch):
    """Ferry with a hashes connector on a CSV export (alice, bob; dave inactive), ``test-app``
    told of logouts by back channel, and ``offline`` (refresh tokens)."""
    monkeypatch.setattr(backchannel, "POLL_SECONDS", 3600.0)  # first attempts only
    export = write_csv(tmp_path / "users.csv", people(
        alice=bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode(),
        bob=bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()))
    tables = deployment({"legacy": hashes_table(export)})
    tables["apps"]["test-app"]["backchannel_logout_uri"] = receiver.url("/test-app")
    tables["apps"]["offline"] = {"name": "Offline app", "client_secret": APP_SECRET,
                                 "redirect_uris": [OFFLINE_REDIRECT],
                                 "grant_types": ["authorization_code", "refresh_token"]}
    built = make_app(DEPLOYMENT=tables)
    yield built
    receiver.release()
    assert backchannel.wait_idle()


def offline_tokens(browser: SignIn) -> dict:
    """The signed-in browser lets ``offline`` stay signed in: tokens with a refresh token."""
    walk = SignIn(browser.client, client_id="offline", redirect_uri=OFFLINE_REDIRECT)
    consent = walk.authorize(scope="openid email offline_access", prompt="consent")
    page = browser.client.get(consent.headers["Location"]).get_data(as_text=True)
    allowed = browser.client.post("/authorize/consent", data={**form_fields(page), "decision": "allow"})
    tokens = walk.exchange(walk.code_from(allowed)).get_json()
    assert "refresh_token" in tokens, tokens
    return {**tokens, "walk": walk}


def refresh(tokens: dict):
    """Use the refresh token as the ``offline`` app would."""
    return tokens["walk"].exchange(None, grant_type="refresh_token", redirect_uri=None,
                                   code_verifier=None, refresh_token=tokens["refresh_token"])


@pytest.fixture
def alice(csv_app):
    """Alice, migrated by her first sign-in (legacy password), with a passkey, a PIN, a live
    session and a refresh token of ``offline``."""
    browser = SignIn(csv_app.test_client())
    browser.tokens("alice@example.com", PASSWORD)
    tokens = offline_tokens(browser)
    with csv_app.app_context(), db.connection_context():
        user = User.get(User.email == "alice@example.com")
        User.update(username="alice.l", phone="+491512345678").where(User.id == user.id).execute()
        PasskeyCredential.create(user=user, credential_id="cred-1", public_key=b"k", name="Alice's phone")
        PinCredential.create(user=user, credential_id="pin-1", public_key=b"k", pin_hash="x")
    browser.refresh_tokens = tokens
    return user, browser


def post(client, path: str, page: str, **data):
    """Post a portal form with the CSRF token read from ``page``."""
    return client.post(path, data={"csrf_token": csrf(client, page), **data})


def text(response) -> str:
    """The page's words as a person reads them: no tags, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def user_page(admin, user) -> str:
    return admin.get(f"/admin/users/{user.id}").get_data(as_text=True)


# -- search -------------------------------------------------------------------------------------
@pytest.mark.parametrize("query", ["alice@example.com", "ALICE@Example.com ", "alice@", "alice.l",
                                   "ALICE.L", "+491512345678", "+49 151 2345-678", "legacy-1", "id"])
def test_search_finds_the_user_by_any_identifier(csv_app, alice, query):
    admin = signed_in(csv_app)
    user, _browser = alice
    page = admin.get("/admin/users", query_string={"q": user.id if query == "id" else query})
    assert page.status_code == 200
    assert f"/admin/users/{user.id}" in page.get_data(as_text=True), query


def test_search_finds_nobody_for_a_stranger_and_everyone_for_nothing(csv_app, alice):
    admin = signed_in(csv_app)
    SignIn(csv_app.test_client()).tokens("bob@example.com", PASSWORD)
    assert "No user matches" in text(admin.get("/admin/users?q=carol@example.com"))
    assert "No user matches" in text(admin.get("/admin/users?q=legacy-"))  # a subject is exact
    everyone = text(admin.get("/admin/users"))
    assert "alice@example.com" in everyone and "bob@example.com" in everyone
    assert everyone.index("bob@example.com") < everyone.index("alice@example.com")  # newest first


def test_search_is_paginated(csv_app, monkeypatch):
    monkeypatch.setattr(admin_ops, "PAGE_SIZE", 2)
    with csv_app.app_context(), db.connection_context():
        for number in range(5):
            User.create(email=f"user{number}@example.com", created_at=utcnow() + timedelta(seconds=number))
    admin = signed_in(csv_app)
    first = admin.get("/admin/users?q=user").get_data(as_text=True)
    assert "user4@" in first and "user3@" in first and "user2@" not in first
    assert "page=2" in first and "Previous page" not in first
    last = admin.get("/admin/users?q=user&page=3").get_data(as_text=True)
    assert "user0@" in last and "Next page" not in last and "page=2" in last
    assert "No user matches" in text(admin.get("/admin/users?q=user&page=9"))


# -- the user's page ------------------------------------------------------------------------------
def test_the_page_shows_the_profile_and_the_migration_record(csv_app, alice):
    admin = signed_in(csv_app)
    user, _browser = alice
    page = text(admin.get(f"/admin/users/{user.id}"))
    for shown in ("alice@example.com", "alice.l", "+491512345678", "Alice", "legacy-1"):
        assert shown in page, shown
    assert "Came over with the legacy password" in page and "through the app test-app" in page
    with csv_app.app_context(), db.connection_context():
        link = LegacyLink.get(LegacyLink.user == user.id)
    assert re.search(r"Connector Legacy subject Migrated Last seen legacy legacy-1 ", page)
    assert link.migrated_at is not None and link.last_seen_at >= link.migrated_at


def test_the_page_shows_the_ways_in_sessions_tokens_and_trail(csv_app, alice):
    admin = signed_in(csv_app)
    user, _browser = alice
    page = text(admin.get(f"/admin/users/{user.id}"))
    assert "Password from legacy:legacy" in page
    assert "Passkey “Alice's phone”" in page and "Device PIN" in page
    assert "Ferry session (pwd)" in page
    assert "Refresh token of offline" in page
    assert "user.migrated" in page and "legacy.verified" not in page  # it names no user
    assert "Careful" not in page  # three ways in: no warning


def test_the_method_comes_from_the_trail_for_a_one_time_code_too(csv_app):
    """A legacy.verified with method=otp before user.migrated: it came over by a code."""
    with csv_app.app_context(), db.connection_context():
        user = User.create(email="carol@example.com")
        link = LegacyLink.create(user=user, connector="legacy", subject="legacy-9")
        AuditEvent.create(event="legacy.verified", connector="legacy",
                          details={"subject": "legacy-9", "method": "otp"},
                          at=link.migrated_at - timedelta(seconds=30))
        AuditEvent.create(event="legacy.verified", connector="legacy",  # someone else's
                          details={"subject": "legacy-8", "mfa": True}, at=link.migrated_at)
        AuditEvent.create(event="user.migrated", connector="legacy", user_id=user.id,
                          client_id="spa", at=link.migrated_at)
        assert admin_ops.migration(user, link).method == "code"
    page = text(signed_in(csv_app).get(f"/admin/users/{user.id}"))
    assert "Came over with a one-time code" in page and "through the app spa" in page


def test_without_a_trail_the_method_is_not_guessed(csv_app):
    with csv_app.app_context(), db.connection_context():
        user = User.create(email="erin@example.com")
        LegacyLink.create(user=user, connector="legacy", subject="legacy-7")
    page = text(signed_in(csv_app).get(f"/admin/users/{user.id}"))
    assert "How it came over is not in the audit trail" in page


def test_a_user_made_in_ferry_has_no_migration(csv_app):
    with csv_app.app_context(), db.connection_context():
        user = User.create(email="frank@example.com")
    page = text(signed_in(csv_app).get(f"/admin/users/{user.id}"))
    assert "no legacy identity" in page and "No password, passkey or PIN" in page


def test_an_unknown_user_is_not_found(csv_app):
    assert signed_in(csv_app).get("/admin/users/nobody").status_code == 404


def test_a_viewer_sees_the_page_without_any_action(csv_app, alice):
    viewer = signed_in(csv_app, "viewer")
    user, _browser = alice
    page = user_page(viewer, user)
    assert "alice@example.com" in page and "Alice&#39;s phone" in page
    for action in ("Revoke passkey", "Remove the password", "End the session", "Revoke the refresh",
                   "Disable", "Delete this user", "csrf_token\" value"):
        assert action not in page.split("<main")[1], action
