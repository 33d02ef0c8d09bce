"""Portal, users: delete, end to end with a real legacy store (a CSV of bcrypt hashes).

The confirmation page comes first. Deleting ends the user's sessions (apps told by back
channel), removes them and everything of theirs, keeps the audit trail, and keeps a tombstone
of each legacy identity: the next sign-in through the legacy store with the right password
creates nobody and ends on "This account was closed". Ticking "Allow migrating again" keeps no
tombstone; a tombstone found by its subject may be forgotten later.
"""

from __future__ import annotations

from connectors import ExternalIdentity
from models import (
    AuditEvent,
    LegacyLink,
    LegacyTombstone,
    PasskeyCredential,
    PasswordCredential,
    PinCredential,
    RefreshToken,
    User,
    UserSession,
    db,
)
from provider import backchannel
from tests.admin import test_users as shared
from tests.admin.conftest import signed_in
from tests.admin.test_users import PASSWORD, post, refresh, text
from tests.conftest import SignIn
from users import admin_ops
from users.mapping import DEFAULT_MAPPING
from users.provisioning import provision

# The shared fixtures (tests/admin/test_users.py): a Ferry on a CSV legacy store, alice.
csv_app, alice, receiver = shared.csv_app, shared.alice, shared.receiver

CLOSED = "This account was closed"


def delete(admin, user, **form):
    page = f"/admin/users/{user.id}/delete"
    return post(admin, page, page, **form)


def test_the_confirmation_page_says_what_goes_and_what_stays(csv_app, alice):
    admin = signed_in(csv_app)
    user, _browser = alice
    page = text(admin.get(f"/admin/users/{user.id}/delete"))
    assert "Delete alice@example.com?" in page
    assert "legacy: legacy-1" in page and "Allow migrating again" in page and "Cancel" in page
    assert "The audit trail stays" in page
    with csv_app.app_context(), db.connection_context():
        assert User.select().where(User.id == user.id).exists()  # looking deletes nothing


def test_a_deleted_user_is_gone_and_not_migrated_again(csv_app, alice, receiver):
    admin = signed_in(csv_app)
    user, browser = alice
    done = delete(admin, user)
    assert done.status_code == 303 and done.headers["Location"] == "/admin/users"
    assert "The user was deleted" in text(admin.get("/admin/users"))
    # Apps were told; the browser and the app's refresh token are out.
    assert backchannel.wait_idle() and [r.path for r in receiver.requests] == ["/test-app"]
    assert "You are not signed in" in browser.client.get("/").get_data(as_text=True)
    assert refresh(browser.refresh_tokens).get_json()["error"] == "invalid_grant"
    with csv_app.app_context(), db.connection_context():
        for model in (User, LegacyLink, PasswordCredential, PasskeyCredential, PinCredential,
                      UserSession, RefreshToken):
            assert model.select().count() == 0, model
        assert AuditEvent.select().where((AuditEvent.user_id == user.id)
                                         & (AuditEvent.event == "user.migrated")).exists()
        [tombstone] = LegacyTombstone.select()
        assert (tombstone.connector, tombstone.subject, tombstone.deleted_by) == \
            ("legacy", "legacy-1", "admin@example.com")
        [event] = AuditEvent.select().where(AuditEvent.event == "admin.user.deleted")
    assert event.details["tombstones"] == ["legacy:legacy-1"]
    assert event.details["allow_migrating_again"] is False

    # The right legacy password, through the real legacy store: nobody is created.
    again = SignIn(csv_app.test_client()).sign_in("alice@example.com", PASSWORD)
    assert again.status_code == 200 and CLOSED in text(again)
    assert "contact support" in text(again)
    with csv_app.app_context(), db.connection_context():
        assert User.select().count() == 0
        assert AuditEvent.select().where((AuditEvent.event == "user.closed")
                                         & (AuditEvent.connector == "legacy")).count() == 1
    # Others migrate as before.
    assert SignIn(csv_app.test_client()).tokens("bob@example.com", PASSWORD)["id_token"]


def test_allowing_migration_again_keeps_no_tombstone(csv_app, alice):
    admin = signed_in(csv_app)
    user, _browser = alice
    assert delete(admin, user, allow_migrating_again="on").status_code == 303
    with csv_app.app_context(), db.connection_context():
        assert LegacyTombstone.select().count() == 0
    tokens = SignIn(csv_app.test_client()).tokens("alice@example.com", PASSWORD)
    with csv_app.app_context(), db.connection_context():
        [new] = User.select()
    assert new.id != user.id and tokens["id_token"]


def test_a_tombstone_is_found_by_its_subject_and_may_be_forgotten(csv_app, alice):
    admin = signed_in(csv_app)
    user, _browser = alice
    delete(admin, user)
    found = admin.get("/admin/users?q=legacy-1")
    page = text(found)
    assert "Deleted users with this legacy subject" in page and "admin@example.com" in page
    viewer = signed_in(csv_app, "viewer")
    assert "Allow migrating legacy-1 again" not in text(viewer.get("/admin/users?q=legacy-1"))
    with csv_app.app_context(), db.connection_context():
        tombstone = LegacyTombstone.get()
    forget = f"/admin/users/tombstones/{tombstone.id}/forget"
    assert post(viewer, forget, "/admin/users?q=legacy-1").status_code == 403
    assert admin.post(forget).status_code == 400  # no CSRF token
    done = post(admin, forget, "/admin/users?q=legacy-1")
    assert done.status_code == 303 and "creates a new user" in text(admin.get(done.headers["Location"]))
    assert post(admin, forget, "/admin/users").status_code == 404
    with csv_app.app_context(), db.connection_context():
        assert AuditEvent.select().where(AuditEvent.event == "admin.user.tombstone_forgotten").count() == 1
    assert SignIn(csv_app.test_client()).tokens("alice@example.com", PASSWORD)["id_token"]


def test_a_user_made_in_ferry_leaves_no_tombstone(csv_app):
    with csv_app.app_context(), db.connection_context():
        user = User.create(email="frank@example.com")
    admin = signed_in(csv_app)
    assert "nothing to remember" in text(admin.get(f"/admin/users/{user.id}/delete"))
    assert delete(admin, user).status_code == 303
    with csv_app.app_context(), db.connection_context():
        assert User.select().count() == LegacyTombstone.select().count() == 0


def test_a_viewer_sees_the_confirmation_without_the_button(csv_app, alice):
    user, _browser = alice
    viewer = signed_in(csv_app, "viewer")
    page = viewer.get(f"/admin/users/{user.id}/delete").get_data(as_text=True).split("<main")[1]
    assert "Allow migrating again" in page and 'type="submit"' not in page


def test_an_unknown_user_cannot_be_deleted(csv_app):
    admin = signed_in(csv_app)
    assert admin.get("/admin/users/nobody/delete").status_code == 404


def test_provisioning_refuses_only_the_tombstoned_identity(csv_app):
    """The check itself: that (connector, subject) is closed; the same subject of another
    connector, and another subject, are created as usual; nothing half-made."""
    claims = {"sub": "42", "email": "zoe@example.com"}
    with csv_app.app_context(), db.connection_context():
        user = provision(ExternalIdentity("legacy", "42", claims), DEFAULT_MAPPING, None).user
        assert admin_ops.delete(user, "ops@example.com") == [("legacy", "42")]
        closed = provision(ExternalIdentity("legacy", "42", claims), DEFAULT_MAPPING, "phc")
        assert (closed.outcome, closed.user) == ("closed", None)
        assert User.select().count() == PasswordCredential.select().count() == 0
        other = provision(ExternalIdentity("ldap", "42", claims), DEFAULT_MAPPING, None)
        assert other.outcome == "created"
        assert provision(ExternalIdentity("legacy", "43", {"sub": "43"}), DEFAULT_MAPPING,
                         None).outcome == "created"
