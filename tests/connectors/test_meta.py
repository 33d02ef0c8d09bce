"""The ``meta`` connector: "Continue with Facebook" through a faithful fake of Meta and back.

The peer is :class:`tests.peers.meta_fake.MetaFake`, a real HTTP server on loopback that follows
Meta's documented Login Dialog, code exchange and Graph API ``/me`` (with ``appsecret_proof``).
Ferry runs the README's "continue with" journey with the Flask test client, as the browser would;
the user's part at the dialog is walked with ``requests`` (and with Chromium in
``tests/browser/test_meta_in_browser.py``). Every refused answer must give a clear page, an audit
event with its reason, and no user created or changed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import tomllib
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

import connectors
from connectors.meta import appsecret_proof
from models import AuditEvent, LegacyLink, User, db
from settings.errors import ConfigError
from tests.accounts import create_local_user
from tests.conftest import SignIn, deployment
from tests.connectors.conftest import page_text
from tests.connectors.contract import log_text
from tests.connectors.oidc.flow import JOURNEY_TOML
from tests.peers.meta_fake import APP_ID, APP_SECRET, VERSION, FakeUser, MetaFake

NAME = "facebook"
PROVIDER = "Facebook"
CALLBACK = f"http://localhost/federate/{NAME}/callback"
#: The README's "continue with" journey, for Facebook.
JOURNEYS = tomllib.loads(JOURNEY_TOML.replace('"corp"', f'"{NAME}"')
                         .replace("Corp ID", PROVIDER))["journeys"]
REJECTED = f"We could not verify the answer from {PROVIDER}, so we did not use it."
REFUSED = f"Signing in with {PROVIDER} was cancelled or refused."
UNAVAILABLE = f"We can't reach {PROVIDER} right now"
EXPIRED = "Your sign-in has expired"


@pytest.fixture
def meta() -> Iterator[MetaFake]:
    with MetaFake([CALLBACK]) as fake:
        yield fake


def connector_table(fake: MetaFake, **settings) -> dict:
    return {"type": "meta", "display_name": PROVIDER, "client_id": APP_ID,
            "client_secret": APP_SECRET, "api_version": VERSION,
            "dialog_url": fake.base_url, "graph_url": fake.base_url,
            "connect_timeout": 2, "read_timeout": 5, **settings}


def ferry(make_app, fake: MetaFake, journeys: dict | None = None, **settings):
    return make_app(DEPLOYMENT=deployment({NAME: connector_table(fake, **settings)},
                                          journeys=journeys or JOURNEYS))


class Browser:
    """One browser at Ferry: the app, Ferry's sign-in page, the Login Dialog, and back."""

    def __init__(self, app) -> None:
        self.client = app.test_client()
        self.walker = SignIn(self.client)

    def to_facebook(self) -> str:
        assert f"Continue with {PROVIDER}" in page_text(self.walker.start())
        response = self.walker.post(federate=NAME)
        assert response.status_code == 303, page_text(response)[:800]
        return response.headers["Location"]

    def back(self, answer: str | dict[str, str]):
        """Meta's redirect (a URL, or its query as a dict) reaches Ferry's callback."""
        query = answer if isinstance(answer, dict) else dict(parse_qsl(urlsplit(answer).query))
        return self.client.get(f"{urlsplit(CALLBACK).path}?{urlencode(query)}")

    def back_and_on(self, answer: str | dict[str, str]):
        callback = self.back(answer)
        assert callback.status_code == 303, page_text(callback)[:800]
        response = self.client.get("/login")
        if response.status_code == 200:
            self.walker.page = response
        return response

    def app_id_token(self, response) -> dict:
        tokens = self.walker.exchange(self.walker.code_from(response))
        assert tokens.status_code == 200, tokens.get_data(as_text=True)
        return self.walker.id_token_claims(tokens.get_json()["id_token"])


def sign_in(app, fake: MetaFake, cancel: bool = False) -> tuple[Browser, object]:
    browser = Browser(app)
    return browser, browser.back_and_on(fake.sign_in(browser.to_facebook(), cancel=cancel))


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


# -- what Ferry holds --------------------------------------------------------------------------
def users(app) -> list[User]:
    with app.app_context(), db.connection_context():
        return list(User.select().order_by(User.created_at))


def links(app) -> list[tuple[str, str, str]]:
    with app.app_context(), db.connection_context():
        return [(link.connector, link.subject, link.user_id) for link in LegacyLink.select()]


def audit(app, event: str) -> list[AuditEvent]:
    with app.app_context(), db.connection_context():
        return list(AuditEvent.select().where(AuditEvent.event == event).order_by(AuditEvent.id))


def reasons(app, event: str) -> list[str]:
    return [e.details.get("reason", "") for e in audit(app, event)]


def snapshot(app) -> list[tuple]:
    with app.app_context(), db.connection_context():
        return ([tuple(u.__data__.items()) for u in User.select().order_by(User.id)]
                + [tuple(link.__data__.items()) for link in LegacyLink.select()])


# -- the good path -----------------------------------------------------------------------------
def test_continue_with_facebook_migrates_then_links_to_the_same_user(make_app, meta):
    app = ferry(make_app, meta)
    browser, done = sign_in(app, meta)
    claims = browser.app_id_token(done)

    [user] = users(app)
    assert (user.email, user.email_verified, user.given_name, user.family_name, user.name) == (
        "alice@example.com", False, "Alice", "Liddell", "Alice Liddell")
    assert claims["sub"] == user.id
    assert links(app) == [(NAME, meta.user.id, user.id)]  # the app-scoped id is the subject
    assert [e.details["subject"] for e in audit(app, "legacy.verified")] == [meta.user.id]

    again, done = sign_in(app, meta)
    assert again.app_id_token(done)["sub"] == user.id
    assert [u.id for u in users(app)] == [user.id]


def test_the_dialog_request_is_the_documented_one(make_app, meta):
    app = ferry(make_app, meta)
    one, two = Browser(app).to_facebook(), Browser(app).to_facebook()
    assert urlsplit(one).path == f"/{VERSION}/dialog/oauth"
    first, second = query_of(one), query_of(two)
    assert (first["client_id"], first["redirect_uri"], first["response_type"], first["scope"]) == (
        APP_ID, CALLBACK, "code", "email,public_profile")
    assert first["code_challenge_method"] == "S256" and len(first["code_challenge"]) == 43
    for key in ("state", "code_challenge"):
        assert len(first[key]) >= 32 and first[key] != second[key], key

    plain = ferry(make_app, meta, pkce=False, auth_type="rerequest",
                  scope=["public_profile", "email", "user_birthday"])
    query = query_of(Browser(plain).to_facebook())
    assert "code_challenge" not in query and query["auth_type"] == "rerequest"
    assert query["scope"] == "public_profile,email,user_birthday"


def test_the_code_exchange_and_the_profile_call_carry_what_meta_documents(make_app, meta):
    app = ferry(make_app, meta)
    browser = Browser(app)
    location = browser.to_facebook()
    answer = meta.sign_in(location)
    browser.app_id_token(browser.back_and_on(answer))

    [(method, _path, token_request, _headers)] = meta.calls(f"/{VERSION}/oauth/access_token")
    assert method == "POST"  # the secret goes in the body, never in a URL
    assert token_request["client_secret"] == APP_SECRET and token_request["redirect_uri"] == CALLBACK
    assert token_request["code"] == query_of(answer)["code"] and "code_verifier" in token_request
    [(_m, _p, me_query, headers)] = meta.calls(f"/{VERSION}/me")
    [token] = meta.tokens
    assert headers["Authorization"] == f"Bearer {token}" and "access_token" not in me_query
    assert me_query["appsecret_proof"] == hmac.new(
        APP_SECRET.encode(), token.encode(), hashlib.sha256).hexdigest()
    assert me_query["fields"] == "id,name,first_name,last_name,email,picture"


def test_appsecret_proof_is_the_hmac_meta_checks(meta):
    assert appsecret_proof("EAAtoken", "secret") == hmac.new(
        b"secret", b"EAAtoken", hashlib.sha256).hexdigest()


def test_the_email_is_verified_only_when_the_operator_trusts_meta(make_app, meta):
    linking = json.loads(json.dumps(JOURNEYS))
    linking["sign-in"]["steps"]["create"]["link_verified_email"] = True
    untrusted = ferry(make_app, meta, journeys=linking)
    local_id = create_local_user(untrusted, "alice@example.com", "alice's own password")
    _browser, page = sign_in(untrusted, meta)
    assert "You already have an account with alice@example.com" in page_text(page)
    assert links(untrusted) == []  # never linked on an address Ferry may not trust

    trusted = ferry(make_app, meta, journeys=linking, trust_email=True)
    local_id = create_local_user(trusted, "alice@example.com", "alice's own password")
    browser, done = sign_in(trusted, meta)
    assert browser.app_id_token(done)["sub"] == local_id
    assert links(trusted) == [(NAME, meta.user.id, local_id)]


@pytest.mark.parametrize("user", [
    FakeUser("10001", "Phoebe", "Phone"),  # signed up with a phone number: no address
    FakeUser("10002", "Dora", "Decliner", "dora@example.com", grants_email=False),
], ids=["no e-mail at Meta", "e-mail permission declined"])
def test_a_profile_without_an_email_migrates_without_one(make_app, meta, user):
    meta.user = user
    app = ferry(make_app, meta, trust_email=True)
    browser, done = sign_in(app, meta)
    browser.app_id_token(done)
    [created] = users(app)
    assert (created.email, created.email_verified, created.name) == (None, False, user.name)
    assert links(app) == [(NAME, user.id, created.id)]


def test_nothing_secret_is_logged(make_app, meta, caplog):
    caplog.set_level(logging.DEBUG)
    app = ferry(make_app, meta)
    browser = Browser(app)
    location = browser.to_facebook()
    answer = meta.sign_in(location)
    browser.app_id_token(browser.back_and_on(answer))
    [token] = meta.tokens
    secrets = (APP_SECRET, token, query_of(answer)["code"], query_of(location)["state"])
    logged = log_text(caplog.records)
    with app.app_context(), db.connection_context():
        details = json.dumps([e.details for e in AuditEvent.select()])
    for secret in secrets:
        assert secret not in logged and secret not in details


# -- refusals at Meta, and Meta failing ----------------------------------------------------------
def test_cancelling_in_the_dialog_is_a_refusal(make_app, meta):
    app = ferry(make_app, meta)
    browser = Browser(app)
    answer = meta.sign_in(browser.to_facebook(), cancel=True)
    assert {"error": "access_denied", "error_reason": "user_denied"}.items() <= query_of(
        answer).items()
    page = browser.back_and_on(answer)
    assert page.status_code == 200 and REFUSED in page_text(page)
    assert f"Continue with {PROVIDER}" in page_text(page)
    assert users(app) == [] and len(audit(app, "federation.refused")) == 1
    assert meta.calls(f"/{VERSION}/oauth/access_token") == []


@pytest.mark.parametrize(("answer", "page", "event", "reason"), [
    ({"error_code": "4201", "error_message": "User canceled the Dialog flow"}, REFUSED,
     "federation.refused", None),
    ({"error": "invalid_scope"}, UNAVAILABLE, "legacy.unavailable",
     "the Login Dialog answered invalid_scope"),
    ({"error": "<script>"}, REJECTED, "federation.rejected", "the error answer is malformed"),
    ({}, REJECTED, "federation.rejected", "the answer carries neither a code nor an error"),
])
def test_other_dialog_answers(make_app, meta, answer, page, event, reason):
    app = ferry(make_app, meta)
    browser = Browser(app)
    state = query_of(browser.to_facebook())["state"]
    shown = browser.back_and_on({**answer, "state": state})
    assert shown.status_code == 200 and page in page_text(shown)
    assert users(app) == [] and len(audit(app, event)) == 1
    if reason:
        assert reasons(app, event) == [reason]


def test_a_wrong_or_replayed_state_is_refused(make_app, meta):
    app = ferry(make_app, meta)
    browser = Browser(app)
    answer = query_of(meta.sign_in(browser.to_facebook()))
    forged = browser.back({**answer, "state": "x" * 43})
    assert forged.status_code == 400 and EXPIRED in page_text(forged)
    browser.app_id_token(browser.back_and_on(answer))  # the genuine answer still works
    before = snapshot(app)
    replay = Browser(app).back(answer)
    assert replay.status_code == 400 and EXPIRED in page_text(replay)
    assert snapshot(app) == before
    assert reasons(app, "federation.rejected") == ["unknown, expired or already used state"] * 2
    assert len(meta.calls(f"/{VERSION}/oauth/access_token")) == 1


def _token_fault(subcode: int | None, code: int = 100, message: str = "x") -> tuple:
    error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Afake"}
    if subcode:
        error["error_subcode"] = subcode
    return (400, {"error": error}, "application/json")


@pytest.mark.parametrize(("tamper", "knob", "page", "reason"), [
    (lambda q: {**q, "code": "AQ-made-up"}, None, REJECTED,
     "the token endpoint refused the code (OAuthException 100)"),
    (None, MetaFake.expire_codes, REJECTED,
     "the token endpoint refused the code (OAuthException 100)"),
    (None, lambda m: setattr(m, "after_token", m.revoke_tokens), REJECTED,
     "the Graph API refused the access token (OAuthException 190)"),
    (None, lambda m: setattr(m, "app_secret", "reset-at-meta-0123456789abcdef"), UNAVAILABLE,
     "the token endpoint refused Ferry's request: error 1: Error validating client secret."),
    (None, lambda m: m.faults.update({f"/{VERSION}/oauth/access_token": _token_fault(36008)}),
     UNAVAILABLE, "the token endpoint refused Ferry's request: error 100: x"),
    (None, lambda m: m.faults.update({f"/{VERSION}/oauth/access_token": _token_fault(
        None, code=4, message="Application request limit reached")}), UNAVAILABLE,
     "the token endpoint answered error 4: Application request limit reached"),
    (None, lambda m: m.faults.update({f"/{VERSION}/me": (200, {"name": "No Id"}, "application/json")}),
     REJECTED, "the Graph API profile has no usable 'id'"),
    (None, lambda m: m.faults.update({f"/{VERSION}/me": (200, {"id": "../1"}, "application/json")}),
     REJECTED, "the Graph API profile has no usable 'id'"),
    (None, lambda m: m.faults.update({f"/{VERSION}/me": (200, "{not json", "text/html")}),
     UNAVAILABLE, "the Graph API /me answered 200, not JSON"),
    (None, lambda m: m.faults.update({f"/{VERSION}/oauth/access_token": (503, "busy", "text/plain")}),
     UNAVAILABLE, "the token endpoint answered 503"),
    (None, lambda m: m.faults.update({f"/{VERSION}/oauth/access_token": (
        200, {"token_type": "bearer"}, "application/json")}), UNAVAILABLE,
     "token answer without an access_token"),
], ids=["forged code", "expired code", "revoked token", "app secret reset", "redirect mismatch",
        "rate limited", "no id", "odd id", "garbage", "5xx", "no access token"])
def test_bad_answers_from_meta(make_app, meta, tamper, knob, page, reason):
    app = ferry(make_app, meta)
    create_local_user(app, "someone@example.com", "a password")
    before = snapshot(app)
    browser = Browser(app)
    answer = query_of(meta.sign_in(browser.to_facebook()))
    if knob:
        knob(meta)
    shown = browser.back_and_on(tamper(answer) if tamper else answer)
    assert shown.status_code == 200 and page in page_text(shown)
    event = "federation.rejected" if page == REJECTED else "legacy.unavailable"
    [got] = reasons(app, event)
    assert got.startswith(reason), got
    assert snapshot(app) == before and audit(app, "legacy.verified") == []


def test_a_wrong_appsecret_proof_is_refused_by_meta_and_unavailable_at_ferry(make_app, meta):
    app = ferry(make_app, meta)
    browser = Browser(app)
    answer = query_of(meta.sign_in(browser.to_facebook()))
    # The secret is reset at Meta between the code exchange and /me.
    meta.after_token = lambda: setattr(meta, "app_secret", "reset-at-meta-0123456789abcdef")
    page = browser.back_and_on(answer)
    assert UNAVAILABLE in page_text(page) and users(app) == []
    assert reasons(app, "legacy.unavailable") == [
        "the Graph API /me refused Ferry's request: error 100: Invalid appsecret_proof provided "
        "in the API argument"]


def test_meta_down_after_the_user_left(make_app, meta):
    app = ferry(make_app, meta)
    browser = Browser(app)
    answer = query_of(meta.sign_in(browser.to_facebook()))
    with meta.stopped():
        page = browser.back_and_on(answer)
    assert UNAVAILABLE in page_text(page) and users(app) == []
    assert "could not connect to the token endpoint" in reasons(app, "legacy.unavailable")[0]


# -- settings ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("settings", "problem"), [
    ({"scope": ["openid", "email"]}, "openid is not supported"),
    ({"fields": ["name", "email"]}, "must include id"),
    ({"api_version": "25"}, "api_version"),
    ({"graph_url": "http://graph.example.com"}, "must be https"),
    ({"client_id": "my-app"}, "client_id"),
])
def test_settings_are_checked_at_start(make_app, settings, problem):
    app = make_app()
    table = {"type": "meta", "client_id": APP_ID, "client_secret": "s", **settings}
    with app.app_context(), pytest.raises(ConfigError) as raised:
        connectors.build_connectors({NAME: table}, app.config)
    assert problem in " ".join(raised.value.problems)


def test_defaults_are_meta_s_own_hosts(make_app):
    app = make_app()
    with app.app_context():
        built = connectors.build_connectors(
            {NAME: {"type": "meta", "client_id": APP_ID, "client_secret": "s"}}, app.config)[NAME]
    url, state = built.start("ref", CALLBACK)
    assert url.startswith("https://www.facebook.com/v25.0/dialog/oauth?")
    assert built.graph("me") == "https://graph.facebook.com/v25.0/me"
    assert isinstance(state["code_verifier"], str)
