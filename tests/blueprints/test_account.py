"""The account page: a user lists, renames and removes their passkeys, never the last way in."""

from __future__ import annotations

import pytest

from models import AuditEvent, PasskeyCredential, PasswordCredential, PinCredential, db, utcnow
from tests.accounts import create_local_user, sign_in_locally
from tests.conftest import form_fields

EMAIL, PASSWORD = "kim@example.com", "a long local password"


@pytest.fixture
def kim(app, client) -> str:
    return sign_in_locally(app, client, EMAIL, PASSWORD)


def add_passkey(app, user_id: str, name: str) -> int:
    with app.app_context(), db.connection_context():
        return PasskeyCredential.create(user=user_id, credential_id=f"cred-{name}",
                                        public_key=b"\x01", name=name).id


def csrf(client) -> str:
    return form_fields(client.get("/").get_data(as_text=True))["csrf_token"]


def names(app, user_id):
    with app.app_context(), db.connection_context():
        return sorted(p.name for p in PasskeyCredential.select().where(
            PasskeyCredential.user == user_id))


def test_passkeys_are_listed_renamed_and_removed(app, client, kim):
    laptop, phone = add_passkey(app, kim, "Laptop"), add_passkey(app, kim, "Phone")
    page = client.get("/").get_data(as_text=True)
    assert "Laptop" in page and "Phone" in page
    token = csrf(client)
    client.post(f"/passkeys/{laptop}/rename", data={"csrf_token": token, "name": "Work laptop"})
    assert names(app, kim) == ["Phone", "Work laptop"]
    removed = client.post(f"/passkeys/{phone}/remove", data={"csrf_token": token})
    assert removed.status_code == 303 and names(app, kim) == ["Work laptop"]
    assert "The passkey was removed." in client.get("/").get_data(as_text=True)
    with app.app_context(), db.connection_context():
        events = [e.event for e in AuditEvent.select().where(AuditEvent.user_id == kim)]
    assert "passkey.renamed" in events and "passkey.removed" in events


def test_the_last_way_to_sign_in_cannot_be_removed(app, client, kim):
    only = add_passkey(app, kim, "Only one")
    with app.app_context(), db.connection_context():
        PasswordCredential.delete().where(PasswordCredential.user == kim).execute()
    response = client.post(f"/passkeys/{only}/remove", data={"csrf_token": csrf(client)})
    assert response.status_code == 303 and names(app, kim) == ["Only one"]
    assert "your only way to sign in" in client.get("/").get_data(as_text=True)


def test_another_users_passkey_is_out_of_reach(app, client, kim):
    other = create_local_user(app, "lee@example.com", "another long password")
    theirs = add_passkey(app, other, "Lee's key")
    token = csrf(client)
    assert client.post(f"/passkeys/{theirs}/rename",
                       data={"csrf_token": token, "name": "mine now"}).status_code == 404
    assert client.post(f"/passkeys/{theirs}/remove", data={"csrf_token": token}).status_code == 404
    assert names(app, other) == ["Lee's key"]


def test_changes_need_a_session_and_a_csrf_token(app, client, kim):
    key = add_passkey(app, kim, "Laptop")
    assert client.post(f"/passkeys/{key}/remove", data={}).status_code == 400
    assert names(app, kim) == ["Laptop"]
    stranger = app.test_client()
    token = form_fields(stranger.get("/login").get_data(as_text=True))["csrf_token"]
    assert stranger.post(f"/passkeys/{key}/remove", data={"csrf_token": token}).status_code == 401
    assert names(app, kim) == ["Laptop"]


def add_pin(app, user_id: str, name: str, *, disabled: bool = False) -> int:
    with app.app_context(), db.connection_context():
        return PinCredential.create(user=user_id, credential_id=f"pin-{name}", public_key=b"\x01",
                                    pin_hash="$argon2id$unused", name=name,
                                    disabled_at=utcnow() if disabled else None).id


def pin_ids(app, user_id):
    with app.app_context(), db.connection_context():
        return sorted(p.id for p in PinCredential.select().where(PinCredential.user == user_id))


def test_pins_are_listed_and_removed(app, client, kim):
    laptop = add_pin(app, kim, "laptop")
    page = client.get("/").get_data(as_text=True)
    assert "PINs on your devices" in page and f"/pins/{laptop}/remove" in page
    removed = client.post(f"/pins/{laptop}/remove", data={"csrf_token": csrf(client)})
    assert removed.status_code == 303 and pin_ids(app, kim) == []
    assert "The PIN was removed from that device." in client.get("/").get_data(as_text=True)


def test_a_pin_counts_as_a_way_in_unless_it_is_turned_off(app, client, kim):
    with app.app_context(), db.connection_context():
        PasswordCredential.delete().where(PasswordCredential.user == kim).execute()
    passkey = add_passkey(app, kim, "Phone")
    working_pin = add_pin(app, kim, "laptop")
    # The PIN still lets Kim in: the passkey may go.
    assert client.post(f"/passkeys/{passkey}/remove", data={"csrf_token": csrf(client)}).status_code == 303
    assert names(app, kim) == []
    # Now the PIN is the last way in: it stays.
    client.post(f"/pins/{working_pin}/remove", data={"csrf_token": csrf(client)})
    assert pin_ids(app, kim) == [working_pin]
    assert "This PIN is your only way to sign in" in client.get("/").get_data(as_text=True)
    # A turned-off PIN is no way in: it never keeps a passkey, and it can always go.
    dead = add_pin(app, kim, "old", disabled=True)
    assert "Turned off after too many wrong PINs" in client.get("/").get_data(as_text=True)
    assert client.post(f"/pins/{dead}/remove", data={"csrf_token": csrf(client)}).status_code == 303
    assert pin_ids(app, kim) == [working_pin]


def test_another_users_pin_cannot_be_removed(app, client, kim):
    other = create_local_user(app, "lee@example.com", PASSWORD)
    theirs = add_pin(app, other, "lee")
    assert client.post(f"/pins/{theirs}/remove", data={"csrf_token": csrf(client)}).status_code == 404
    assert client.post(f"/pins/{theirs}/remove", data={}).status_code == 400
    assert pin_ids(app, other) == [theirs]
