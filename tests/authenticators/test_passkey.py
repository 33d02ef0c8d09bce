"""Passkeys, server side: tampered answers posted to the sign-in page are refused.

``SoftAuthenticator`` (a software authenticator) lets each test forge exactly one thing: the
origin, the challenge, the user-verification flag, the counter, the user handle. Ferry runs the
``passkey-sign-in`` journey; the browser's side is posted like ``ferry-webauthn.js`` posts it.
"""

from __future__ import annotations

import html
import json
import re
import time

import pytest
from webauthn.helpers import bytes_to_base64url

import authenticators
import authenticators.passkey as passkey_module
from authenticators.passkey import PasskeyRefused
from models import AuditEvent, PasskeyCredential, User, UserSession, db
from tests.authenticators.soft_authenticator import SoftAuthenticator
from tests.conftest import form_fields

REFUSED = "That passkey didn&#39;t work. Try again."


@pytest.fixture
def passkey_app(make_app):
    return make_app(DEFAULT_JOURNEY="passkey-sign-in")


def enrol(app, email: str, authenticator: SoftAuthenticator) -> str:
    """Create a user holding ``authenticator``'s passkey; returns the user id."""
    with app.app_context(), db.connection_context():
        user = User.create(email=email)
        context: dict = {}
        options = json.loads(authenticators.get("passkey").registration_options(context, user))
        authenticators.get("passkey").register(context, user, authenticator.create(options))
        return user.id


class PasskeyPage:
    """The passkey sign-in page of one browser: its options, and posting an answer to it."""

    def __init__(self, client) -> None:
        self.client = client
        self.open()

    def open(self) -> None:
        body = self.client.get("/login").get_data(as_text=True)
        found = re.search(r'data-webauthn-options="([^"]*)"', body)
        assert found, body[:800]
        self.options = json.loads(html.unescape(found.group(1)))
        self.fields = form_fields(body)

    def post(self, answer: str):
        return self.client.post("/login", data={**self.fields, "credential": answer})


def signed_in(response) -> bool:
    return response.status_code == 303 and response.headers["Location"].endswith("/")


def refused(response) -> bool:
    return response.status_code == 200 and REFUSED in response.get_data(as_text=True)


def audit(app, event: str) -> list[AuditEvent]:
    with app.app_context(), db.connection_context():
        return list(AuditEvent.select().where(AuditEvent.event == event).order_by(AuditEvent.id))


def test_options_are_usernameless_and_the_answer_signs_in(passkey_app):
    device = SoftAuthenticator()
    user_id = enrol(passkey_app, "alice@example.com", device)
    page = PasskeyPage(passkey_app.test_client())
    assert page.options["allowCredentials"] == []
    assert page.options["rpId"] == "localhost"
    assert page.options["userVerification"] == "required"

    assert signed_in(page.post(device.get(page.options)))
    with passkey_app.app_context(), db.connection_context():
        session = UserSession.get(UserSession.user == user_id)
        assert session.amr == ["hwk", "user", "mfa"]
        assert PasskeyCredential.get(PasskeyCredential.user == user_id).sign_count == device.sign_count
    assert [e.user_id for e in audit(passkey_app, "signin.passkey")] == [user_id]


def test_registration_options_require_a_discoverable_credential_and_exclude_existing_ones(passkey_app):
    device = SoftAuthenticator()
    user_id = enrol(passkey_app, "alice@example.com", device)
    with passkey_app.app_context(), db.connection_context():
        options = json.loads(authenticators.get("passkey").registration_options({}, User.get_by_id(user_id)))
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["user"]["id"] == bytes_to_base64url(user_id.encode())
    assert [c["id"] for c in options["excludeCredentials"]] == [bytes_to_base64url(device.credential_id)]


def test_an_answer_from_another_origin_is_refused(passkey_app):
    device = SoftAuthenticator()
    enrol(passkey_app, "alice@example.com", device)
    page = PasskeyPage(passkey_app.test_client())
    assert refused(page.post(device.get(page.options, origin="https://evil.example")))
    assert audit(passkey_app, "signin.failed")[-1].details == {"reason": "passkey_invalid_assertion"}


def test_an_answer_for_another_rp_id_is_refused(passkey_app):
    device = SoftAuthenticator()
    enrol(passkey_app, "alice@example.com", device)
    device.rp_id = "evil.example"  # the same key, asserting for another relying party
    page = PasskeyPage(passkey_app.test_client())
    assert refused(page.post(device.get(page.options)))


def test_a_replayed_answer_is_refused(passkey_app):
    device = SoftAuthenticator()
    enrol(passkey_app, "alice@example.com", device)
    page = PasskeyPage(passkey_app.test_client())
    answer = device.get(page.options)
    assert signed_in(page.post(answer))

    # Another browser posts the very same answer: its own run holds another challenge.
    other = PasskeyPage(passkey_app.test_client())
    assert refused(other.post(answer))


def test_a_challenge_is_used_once(passkey_app):
    device = SoftAuthenticator()
    enrol(passkey_app, "alice@example.com", device)
    passkey = authenticators.get
    with passkey_app.test_request_context(), db.connection_context():
        context: dict = {}
        options = json.loads(passkey("passkey").authentication_options(context))
        passkey("passkey").authenticate(context, device.get(options))
        with pytest.raises(PasskeyRefused, match="no_ceremony"):
            passkey("passkey").authenticate(context, device.get(options))


def test_an_expired_challenge_is_refused(passkey_app, monkeypatch):
    device = SoftAuthenticator()
    enrol(passkey_app, "alice@example.com", device)
    monkeypatch.setattr(passkey_module, "CEREMONY_TTL", -1)
    page = PasskeyPage(passkey_app.test_client())
    assert refused(page.post(device.get(page.options)))
    assert audit(passkey_app, "signin.failed")[-1].details == {"reason": "passkey_expired"}


def test_a_reloaded_page_keeps_its_pending_challenge_which_still_works_once(passkey_app):
    """A reload writes nothing: it shows the challenge still pending, not a new one."""
    device = SoftAuthenticator()
    enrol(passkey_app, "alice@example.com", device)
    page = PasskeyPage(passkey_app.test_client())
    before_reload = device.get(page.options)
    first_challenge = page.options["challenge"]
    page.open()
    assert page.options["challenge"] == first_challenge
    assert signed_in(page.post(before_reload))


def test_a_challenge_past_half_its_life_is_replaced_on_reload(passkey_app, monkeypatch):
    device = SoftAuthenticator()
    enrol(passkey_app, "alice@example.com", device)
    page = PasskeyPage(passkey_app.test_client())
    stale, first_challenge = device.get(page.options), page.options["challenge"]
    now = time.time()
    monkeypatch.setattr(passkey_module, "clock", lambda: now + passkey_module.CEREMONY_TTL * 0.6)
    page.open()
    assert page.options["challenge"] != first_challenge
    assert refused(page.post(stale))
    assert audit(passkey_app, "signin.failed")[-1].details == {"reason": "passkey_invalid_assertion"}


def test_missing_user_verification_is_refused_when_required(passkey_app):
    device = SoftAuthenticator()
    enrol(passkey_app, "alice@example.com", device)
    page = PasskeyPage(passkey_app.test_client())
    assert refused(page.post(device.get(page.options, verified=False)))


def test_user_verification_preferred_accepts_presence_alone(make_app):
    app = make_app(DEFAULT_JOURNEY="passkey-sign-in", WEBAUTHN_USER_VERIFICATION="preferred")
    device = SoftAuthenticator()
    user_id = enrol(app, "alice@example.com", device)
    page = PasskeyPage(app.test_client())
    assert page.options["userVerification"] == "preferred"
    assert signed_in(page.post(device.get(page.options, verified=False)))
    with app.app_context(), db.connection_context():
        assert UserSession.get(UserSession.user == user_id).amr == ["hwk", "user"]


def test_a_counter_regression_is_refused_and_audited(passkey_app):
    device = SoftAuthenticator()
    user_id = enrol(passkey_app, "alice@example.com", device)
    page = PasskeyPage(passkey_app.test_client())
    assert signed_in(page.post(device.get(page.options, count=5)))

    page = PasskeyPage(passkey_app.test_client())
    assert refused(page.post(device.get(page.options, count=3)))  # a clone, behind the original
    [event] = audit(passkey_app, "passkey.counter_regression")
    assert (event.user_id, event.details["stored"], event.details["received"]) == (user_id, 5, 3)
    with passkey_app.app_context(), db.connection_context():
        assert PasskeyCredential.get(PasskeyCredential.user == user_id).sign_count == 5


def test_a_credential_presented_for_another_user_is_refused(passkey_app):
    alice, bob = SoftAuthenticator(), SoftAuthenticator()
    enrol(passkey_app, "alice@example.com", alice)
    bob_id = enrol(passkey_app, "bob@example.com", bob)
    page = PasskeyPage(passkey_app.test_client())
    # Alice's credential, signed by her key, claiming to be bob's.
    assert refused(page.post(alice.get(page.options, handle=bob_id.encode())))
    assert audit(passkey_app, "signin.failed")[-1].details == {"reason": "passkey_user_mismatch"}


def test_an_unknown_credential_is_refused(passkey_app):
    enrol(passkey_app, "alice@example.com", SoftAuthenticator())
    stranger = SoftAuthenticator()
    stranger.user_handle = b"nobody"
    page = PasskeyPage(passkey_app.test_client())
    assert refused(page.post(stranger.get(page.options)))
    assert audit(passkey_app, "signin.failed")[-1].details == {"reason": "passkey_unknown_credential"}


def test_garbage_is_refused_without_an_error_page(passkey_app):
    page = PasskeyPage(passkey_app.test_client())
    assert refused(page.post("{not json"))
    page = PasskeyPage(passkey_app.test_client())
    assert refused(page.post(""))


def test_registration_refuses_another_origin_and_a_credential_already_registered(passkey_app):
    device = SoftAuthenticator()
    enrol(passkey_app, "alice@example.com", device)
    passkey = authenticators.get
    with passkey_app.app_context(), db.connection_context():
        bob = User.create(email="bob@example.com")
        context: dict = {}
        options = json.loads(passkey("passkey").registration_options(context, bob))
        with pytest.raises(PasskeyRefused, match="invalid_registration"):
            passkey("passkey").register(context, bob, SoftAuthenticator().create(options, origin="https://evil.example"))
        options = json.loads(passkey("passkey").registration_options(context, bob))
        with pytest.raises(PasskeyRefused, match="credential_exists"):
            passkey("passkey").register(context, bob, device.create(options))
        assert PasskeyCredential.select().where(PasskeyCredential.user == bob).count() == 0


def test_rp_id_and_origins_default_to_the_issuer(make_app):
    app = make_app(ISSUER="https://login.example.com:8443")
    assert app.config["WEBAUTHN_RP_ID"] == "login.example.com"
    assert app.config["WEBAUTHN_ORIGINS"] == ["https://login.example.com:8443"]
