"""The ``oidc`` connector's good paths: "continue with <legacy IdP>" through a real OpenID Provider
(the npm ``oidc-provider``) and back, driven through Ferry's own pages with the Flask test client as
the browser would (the user's part at the IdP's pages is walked with ``requests`` here and with
Chromium in ``tests/browser/test_oidc_in_browser.py``): migration and relinking, state, nonce and
PKCE, form_post, client authentications, extra parameters, an existing local user, key rotation, and
nothing secret logged."""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from joserfc.jwk import RSAKey

from models import AuditEvent, db
from tests.accounts import count_users, create_local_user
from tests.connectors.conftest import page_text
from tests.connectors.contract import log_text
from tests.connectors.oidc.flow import (
    CALLBACK,
    Browser,
    audit,
    ferry,
    links,
    peer_connector,
    scripted_connector,
    sign_in_with_peer,
    snapshot,
    users,
)


# -- the good paths, against the real IdP ------------------------------------------------------
def test_first_continue_with_migrates_the_user_and_the_next_links_to_the_same_user(
        make_app, oidc_provider):
    app = ferry(make_app, peer_connector(oidc_provider))

    browser, done = sign_in_with_peer(app, oidc_provider, "alice")
    claims = browser.app_id_token(done)

    [user] = users(app)
    assert (user.email, user.email_verified, user.given_name, user.family_name, user.name) == (
        "alice@example.com", True, "Alice", "Liddell", "Alice Liddell")
    assert claims["sub"] == user.id and claims["email"] == "alice@example.com"
    assert links(app) == [("corp", "alice", user.id)]
    assert [e.event for e in audit(app, "user.migrated")] == ["user.migrated"]
    assert [e.details["subject"] for e in audit(app, "legacy.verified")] == ["alice"]

    # Another browser, another day: the same legacy identity signs in as the same local user.
    again, done = sign_in_with_peer(app, oidc_provider, "alice")
    assert again.app_id_token(done)["sub"] == user.id
    assert [u.id for u in users(app)] == [user.id]
    assert [e.event for e in audit(app, "user.relinked")] == ["user.relinked"]


def test_the_authorization_request_binds_state_nonce_and_pkce(make_app, oidc_provider):
    app = ferry(make_app, peer_connector(oidc_provider))
    first, second = Browser(app), Browser(app)
    one = dict(parse_qsl(urlsplit(first.to_provider()).query))
    two = dict(parse_qsl(urlsplit(second.to_provider()).query))

    assert one["response_type"] == "code" and one["redirect_uri"] == CALLBACK
    assert one["code_challenge_method"] == "S256" and len(one["code_challenge"]) == 43
    assert one["scope"] == "openid email profile" and "response_mode" not in one
    for key in ("state", "nonce", "code_challenge"):
        assert len(one[key]) >= 32 and one[key] != two[key], key
    # The nonce and the PKCE verifier stay on the server: the session cookie holds the run id.
    cookie = first.client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    session = app.session_interface.get_signing_serializer(app).loads(cookie.value)
    assert set(session) <= {"run", "_fresh", "csrf_token"}, session


def test_form_post_answers_are_accepted(make_app, oidc_provider):
    app = ferry(make_app, peer_connector(oidc_provider, response_mode="form_post"))
    browser = Browser(app)
    location = browser.to_provider()
    assert dict(parse_qsl(urlsplit(location).query))["response_mode"] == "form_post"

    answer = oidc_provider.sign_in(location, "alice", CALLBACK)
    assert answer.method == "POST" and {"code", "state", "iss"} <= set(answer.form)
    done = browser.back_and_on(answer)
    assert browser.app_id_token(done)["email"] == "alice@example.com"


@pytest.mark.parametrize("auth_method", ["client_secret_post", "private_key_jwt"])
def test_other_client_authentications_at_the_token_endpoint(make_app, oidc_provider, auth_method):
    key = RSAKey.generate_key(2048, parameters={"kid": "ferry-1"})
    registration = {"token_endpoint_auth_method": auth_method}
    settings: dict = {"client_auth": auth_method}
    if auth_method == "private_key_jwt":
        registration["jwks"] = {"keys": [key.as_dict(private=False)]}
        settings.update(private_key=key.as_pem(private=True).decode(), key_id="ferry-1")
    connector = peer_connector(oidc_provider, registration=registration, **settings)
    if auth_method == "private_key_jwt":
        assert "client_secret" not in connector
    app = ferry(make_app, connector)

    browser, done = sign_in_with_peer(app, oidc_provider, "bob")
    assert browser.app_id_token(done)["email"] == "bob@example.com"  # normalised by the mapping


def test_claims_acr_values_and_extra_parameters_reach_the_idp(make_app, oidc_provider):
    # Without userinfo, the e-mail only arrives if the claims parameter asked for it in the
    # ID token (this IdP puts no profile claims there otherwise).
    app = ferry(make_app, peer_connector(
        oidc_provider, use_userinfo=False, acr_values="urn:ferry:test:loa:2",
        claims=json.dumps({"id_token": {"email": {"essential": True}, "given_name": None}}),
        extra_authorize_params={"login_hint": "carol", "ui_locales": "fr"},
    ))
    browser = Browser(app)
    location = browser.to_provider()
    query = dict(parse_qsl(urlsplit(location).query))
    assert query["acr_values"] == "urn:ferry:test:loa:2" and query["ui_locales"] == "fr"
    assert json.loads(query["claims"])["id_token"]["email"] == {"essential": True}

    session = requests.Session()
    assert 'value="carol"' in session.get(location, timeout=5).text  # the IdP's login page
    done = browser.back_and_on(oidc_provider.sign_in(location, "carol", CALLBACK, session=session))

    [user] = users(app)
    assert (user.email, user.given_name, user.family_name) == ("carol@example.com", "Carol", None)
    assert browser.app_id_token(done)["sub"] == user.id


def test_an_existing_local_user_is_not_linked_without_their_password(make_app, oidc_provider):
    app = ferry(make_app, peer_connector(oidc_provider))
    local_id = create_local_user(app, "carol@example.com", "carol's own password")
    before = snapshot(app)

    browser, page = sign_in_with_peer(app, oidc_provider, "carol")
    text = page_text(page)
    assert page.status_code == 200 and "You already have an account with carol@example.com" in text
    assert snapshot(app) == before and links(app) == []
    assert [e.event for e in audit(app, "user.conflict")] == ["user.conflict"]

    wrong = browser.walker.post(password="not carol's password")
    assert wrong.status_code == 200 and "That password is not right." in page_text(wrong)
    assert links(app) == [] and snapshot(app) == before

    right = browser.walker.post(password="carol's own password")
    assert browser.app_id_token(right)["sub"] == local_id
    assert links(app) == [("corp", "carol", local_id)]
    assert count_users(app) == 1

    # From now on the IdP identity signs in as the local user directly.
    again, done = sign_in_with_peer(app, oidc_provider, "carol")
    assert again.app_id_token(done)["sub"] == local_id


def test_the_idp_keys_rotating_is_followed_at_once(make_app, scripted):
    app = ferry(make_app, scripted_connector(scripted))
    first = Browser(app)
    first.app_id_token(first.back_and_on(scripted.authorize(first.to_provider())))

    rotated = RSAKey.generate_key(2048, parameters={"kid": "scripted-2", "use": "sig"})
    scripted.published, scripted.sign_with = [rotated], rotated
    second = Browser(app)
    second.app_id_token(second.back_and_on(scripted.authorize(second.to_provider())))
    assert len(scripted.calls("/jwks")) == 2  # fetched again for the unknown kid, once
    assert len(scripted.calls("/.well-known/openid-configuration")) == 1  # cached


def test_nothing_secret_is_logged(make_app, oidc_provider, caplog):
    caplog.set_level(logging.DEBUG)
    connector = peer_connector(oidc_provider)
    app = ferry(make_app, connector)
    browser = Browser(app)
    location = browser.to_provider()
    answer = oidc_provider.sign_in(location, "alice", CALLBACK)
    browser.app_id_token(browser.back_and_on(answer))

    query = dict(parse_qsl(urlsplit(location).query))
    code = dict(parse_qsl(urlsplit(answer.url).query))["code"]
    logged = log_text(caplog.records)
    for secret in (connector["client_secret"], code, query["nonce"], query["state"]):
        assert secret not in logged
    with app.app_context(), db.connection_context():
        details = json.dumps([e.details for e in AuditEvent.select()])
    for secret in (connector["client_secret"], code, query["nonce"], query["state"]):
        assert secret not in details
