"""Portal, users: each action on a user. Revoke the password, a passkey, a PIN (the last way in
too, after a warning), end a session (its app hears by back channel), revoke a refresh token,
disable (every session and token) and enable. Viewers are refused every one, and so is a post
without the CSRF token; nothing changes then."""

from __future__ import annotations

import re

import pytest

from models import AuditEvent, PasskeyCredential, PasswordCredential, PinCredential, User, UserSession, db
from provider import backchannel
from tests.admin import test_users as shared
from tests.admin.conftest import signed_in
from tests.admin.test_users import PASSWORD, post, refresh, text, user_page
from tests.conftest import SignIn

# The shared fixtures (tests/admin/test_users.py): a Ferry on a CSV legacy store, alice.
csv_app, alice, receiver = shared.csv_app, shared.alice, shared.receiver

SIGNED_OUT = "You are not signed in"


def found(pattern: str, page: str) -> str:
    match = re.search(pattern, page)
    assert match, pattern
    return match.group(1)


def audited(app, event: str) -> list[AuditEvent]:
    with app.app_context(), db.connection_context():
        return list(AuditEvent.select().where(AuditEvent.event == event))


def test_revoking_a_passkey(csv_app, alice):
    admin = signed_in(csv_app)
    user, _browser = alice
    with csv_app.app_context(), db.connection_context():
        other = User.create(email="other@example.com")
        theirs = PasskeyCredential.create(user=other, credential_id="cred-2", public_key=b"k")
        passkey = PasskeyCredential.get(PasskeyCredential.user == user.id)
    page = f"/admin/users/{user.id}"
    assert post(admin, f"{page}/passkeys/{theirs.id}/revoke", page).status_code == 404  # not hers
    done = post(admin, f"{page}/passkeys/{passkey.id}/revoke", page)
    assert done.status_code == 303 and done.headers["Location"] == page
    assert "The passkey was removed" in text(admin.get(page))
    with csv_app.app_context(), db.connection_context():
        assert list(PasskeyCredential.select()) == [theirs]
    [event] = audited(csv_app, "admin.user.passkey_revoked")
    assert event.user_id == user.id and event.details["admin"] == "admin@example.com"


def test_revoking_a_pin_and_the_password(csv_app, alice):
    admin = signed_in(csv_app)
    user, _browser = alice
    page = f"/admin/users/{user.id}"
    with csv_app.app_context(), db.connection_context():
        pin = PinCredential.get(PinCredential.user == user.id)
    assert post(admin, f"{page}/pins/{pin.id}/revoke", page).status_code == 303
    assert post(admin, f"{page}/password/revoke", page).status_code == 303
    assert post(admin, f"{page}/password/revoke", page).status_code == 404  # gone already
    with csv_app.app_context(), db.connection_context():
        assert not PinCredential.select().where(PinCredential.user == user.id).exists()
        assert not PasswordCredential.select().where(PasswordCredential.user == user.id).exists()
    assert audited(csv_app, "admin.user.pin_revoked") and audited(csv_app, "admin.user.password_revoked")
    # Ferry has no password of hers now: the legacy store checks it again, and she is let in.
    assert SignIn(csv_app.test_client()).tokens("alice@example.com", PASSWORD)["id_token"]


def test_the_last_way_in_is_warned_of_but_may_be_revoked(csv_app, alice):
    admin = signed_in(csv_app)
    user, _browser = alice
    page = f"/admin/users/{user.id}"
    with csv_app.app_context(), db.connection_context():
        PinCredential.delete().execute()
        PasswordCredential.delete().execute()
        passkey = PasskeyCredential.get(PasskeyCredential.user == user.id)
    assert "Careful: this user has one way in left" in text(admin.get(page))
    assert post(admin, f"{page}/passkeys/{passkey.id}/revoke", page).status_code == 303
    assert "This user has no way to sign in left" in text(admin.get(page))


def test_ending_a_session_signs_the_browser_out_and_tells_its_app(csv_app, alice, receiver):
    admin = signed_in(csv_app)
    user, browser = alice
    page = f"/admin/users/{user.id}"
    sid = found(r'/sessions/([^/"]+)/end', user_page(admin, user))
    assert post(admin, f"{page}/sessions/{sid}/end", page).status_code == 303
    assert SIGNED_OUT in browser.client.get("/").get_data(as_text=True)
    assert backchannel.wait_idle()
    assert [r.path for r in receiver.requests] == ["/test-app"]
    # The refresh token came from that session: it died with it.
    assert refresh(browser.refresh_tokens).get_json()["error"] == "invalid_grant"
    assert post(admin, f"{page}/sessions/{sid}/end", page).status_code == 404  # ended already
    assert audited(csv_app, "admin.user.session_ended")


def test_revoking_a_refresh_token_keeps_the_session(csv_app, alice):
    admin = signed_in(csv_app)
    user, browser = alice
    page = f"/admin/users/{user.id}"
    family = found(r'/refresh/([^/"]+)/revoke', user_page(admin, user))
    assert post(admin, f"{page}/refresh/nonsense/revoke", page).status_code == 404
    assert post(admin, f"{page}/refresh/{family}/revoke", page).status_code == 303
    assert refresh(browser.refresh_tokens).get_json()["error"] == "invalid_grant"
    assert SIGNED_OUT not in browser.client.get("/").get_data(as_text=True)
    assert "Refresh token of offline" not in text(admin.get(page))
    assert audited(csv_app, "admin.user.refresh_revoked")


def test_disabling_ends_everything_and_refuses_sign_in_until_enabled(csv_app, alice):
    admin = signed_in(csv_app)
    user, browser = alice
    page = f"/admin/users/{user.id}"
    done = post(admin, f"{page}/status", page, status="disabled")
    assert done.status_code == 303
    assert "every session ended" in text(admin.get(page))
    assert SIGNED_OUT in browser.client.get("/").get_data(as_text=True)
    assert refresh(browser.refresh_tokens).get_json()["error"] == "invalid_grant"
    with csv_app.app_context(), db.connection_context():
        assert not UserSession.select().where((UserSession.user == user.id)
                                              & UserSession.ended_at.is_null()).exists()
    again = SignIn(csv_app.test_client()).sign_in("alice@example.com", PASSWORD)
    assert again.status_code == 200 and "id_token" not in again.get_data(as_text=True)
    [event] = audited(csv_app, "admin.user.status")
    assert (event.details["before"], event.details["after"]) == ({"status": "active"},
                                                                  {"status": "disabled"})
    assert post(admin, f"{page}/status", page, status="active").status_code == 303
    assert SignIn(csv_app.test_client()).tokens("alice@example.com", PASSWORD)["id_token"]


def test_a_status_that_is_neither_is_refused_by_name(csv_app, alice):
    admin = signed_in(csv_app)
    user, _browser = alice
    page = f"/admin/users/{user.id}"
    assert post(admin, f"{page}/status", page, status="banished").status_code == 303
    assert "status: choose active or disabled" in text(admin.get(page))
    with csv_app.app_context(), db.connection_context():
        assert User.get(User.id == user.id).status == "active"
    assert not audited(csv_app, "admin.user.status")


ACTIONS = ["password/revoke", "passkeys/{passkey}/revoke", "pins/{pin}/revoke",
           "sessions/{sid}/end", "refresh/{family}/revoke", "status", "delete"]


def _targets(app, admin, user) -> dict[str, str]:
    page = user_page(admin, user)
    with app.app_context(), db.connection_context():
        return {"passkey": PasskeyCredential.get(PasskeyCredential.user == user.id).id,
                "pin": PinCredential.get(PinCredential.user == user.id).id,
                "sid": found(r'/sessions/([^/"]+)/end', page),
                "family": found(r'/refresh/([^/"]+)/revoke', page)}


def _unchanged(app, user, browser) -> None:
    with app.app_context(), db.connection_context():
        assert User.get(User.id == user.id).status == "active"
        assert PasskeyCredential.select().count() == PinCredential.select().count() == 1
        assert PasswordCredential.select().count() == 1
    assert SIGNED_OUT not in browser.client.get("/").get_data(as_text=True)
    assert "refresh_token" in refresh(browser.refresh_tokens).get_json()
    assert not [e for e in audited(app, "admin.user.deleted")]


@pytest.mark.parametrize("action", ACTIONS)
def test_a_viewer_is_refused_every_action(csv_app, alice, action):
    user, browser = alice
    targets = _targets(csv_app, signed_in(csv_app), user)
    viewer = signed_in(csv_app, "viewer")
    page = f"/admin/users/{user.id}"
    refused = post(viewer, f"{page}/{action.format(**targets)}", page, status="disabled")
    assert refused.status_code == 403
    assert "Nothing was changed" in text(refused)
    _unchanged(csv_app, user, browser)


@pytest.mark.parametrize("action", ACTIONS)
def test_an_action_without_the_csrf_token_is_refused(csv_app, alice, action):
    user, browser = alice
    admin = signed_in(csv_app)
    targets = _targets(csv_app, admin, user)
    refused = admin.post(f"/admin/users/{user.id}/{action.format(**targets)}", data={"status": "disabled"})
    assert refused.status_code == 400
    _unchanged(csv_app, user, browser)
