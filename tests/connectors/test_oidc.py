"""The ``oidc`` connector: "continue with <legacy IdP>" through a real OpenID Provider and back.

Two peers, both real HTTP servers on loopback:

* the npm ``oidc-provider`` (``tests/peers/oidc_provider``), the legacy IdP of the good paths
  and of every check that a real IdP can provoke (cancel, mix-up, replay, an outage). The user's
  part at its pages is walked with ``requests`` here and with Chromium in
  ``tests/browser/test_oidc_in_browser.py``;
* a scripted provider (``tests/peers/oidc_scripted.py``) whose token endpoint serves ID tokens
  crafted per test: the negative corpus of forged answers.

Ferry runs the journey of the README (:data:`JOURNEY`) and is driven through its own pages
with the Flask test client, as the browser would. Every refused answer must give a clear page,
an audit event with its reason, and no user created or changed.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
import tomllib
from collections.abc import Callable, Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OctKey, RSAKey

import connectors
from connectors.oidc_presets import GOOGLE_ISSUER, PRESETS
from models import AuditEvent, LegacyLink, User, db
from settings.errors import ConfigError
from tests.accounts import count_users, create_local_user
from tests.conftest import SignIn, deployment
from tests.connectors.conftest import page_text
from tests.connectors.contract import log_text
from tests.connectors.scripted_idp import Reply, closed_port_url
from tests.peers.oidc_provider import Answer, OidcProviderPeer
from tests.peers.oidc_scripted import DROP, ScriptedOidcProvider

CALLBACK = "http://localhost/federate/corp/callback"
PROVIDER = "Corp ID"
#: People the legacy IdP knows: login (their ``sub`` there) -> claims.
ACCOUNTS = {
    "alice": {"email": "alice@example.com", "email_verified": True, "name": "Alice Liddell",
              "given_name": "Alice", "family_name": "Liddell"},
    "bob": {"email": "Bob@Example.com", "email_verified": False, "name": "Bob Builder",
            "given_name": "Bob", "family_name": "Builder"},
    "carol": {"email": "carol@example.com", "email_verified": True, "name": "Carol Danvers",
              "given_name": "Carol", "family_name": "Danvers"},
}

# The journey of the README's "continue with" section, as an operator would copy it.
JOURNEY_TOML = """
[journeys.sign-in]
replace = true
title = "Sign in"
start = "collect"

[journeys.sign-in.steps.collect]
type = "collect"
providers = ["corp"]
on = { submitted = "local", federate = "federate" }

[journeys.sign-in.steps.local]
type = "local_password"
on = { success = "done", failure = "collect", no_credential = "no-password", throttled = "collect" }

[journeys.sign-in.steps.no-password]
type = "notice"
title = "Use your Corp ID"
message = "Choose Continue with Corp ID to sign in."
button = "Back"
on = { continue = "collect" }

[journeys.sign-in.steps.federate]
type = "federate"
on = { success = "create", failure = "collect", unavailable = "unavailable", rejected = "collect" }

[journeys.sign-in.steps.create]
type = "create_user"
on = { created = "done", linked = "done", conflict = "link" }

[journeys.sign-in.steps.link]
type = "link_account"
on = { linked = "done", failure = "collect", throttled = "collect" }

[journeys.sign-in.steps.unavailable]
type = "notice"
title = "We can't reach Corp ID right now"
message = "Nothing was changed. Please try again in a few minutes."
button = "Try again"
on = { continue = "collect" }

[journeys.sign-in.steps.done]
type = "complete"
"""
JOURNEYS = tomllib.loads(JOURNEY_TOML)["journeys"]

REJECTED = f"We could not verify the answer from {PROVIDER}, so we did not use it."
REFUSED = f"Signing in with {PROVIDER} was cancelled or refused."
UNAVAILABLE = f"We can't reach {PROVIDER} right now"
EXPIRED = "Your sign-in has expired"


# -- peers and Ferry ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProviderPeer]:
    """The real legacy IdP (npm oidc-provider), one process for the session."""
    with OidcProviderPeer(ACCOUNTS) as peer:
        yield peer


@pytest.fixture
def scripted() -> Iterator[ScriptedOidcProvider]:
    with ScriptedOidcProvider() as idp:
        yield idp


def peer_connector(peer: OidcProviderPeer, callback: str = CALLBACK, registration: dict | None = None,
                   **settings) -> dict:
    """Settings of an ``oidc`` connector for a client registered at the peer for ``callback``."""
    client = peer.register_client([callback], **(registration or {}))
    table = {"type": "oidc", "display_name": PROVIDER, "issuer": peer.issuer,
             "client_id": client["client_id"], "connect_timeout": 2, "read_timeout": 5}
    if "client_secret" in client:
        table["client_secret"] = client["client_secret"]
    return {**table, **settings}


def scripted_connector(idp: ScriptedOidcProvider, **settings) -> dict:
    return {"type": "oidc", "display_name": PROVIDER, "issuer": idp.issuer,
            "client_id": idp.client_id, "client_secret": idp.client_secret,
            "connect_timeout": 2, "read_timeout": 5, **settings}


def ferry(make_app, connector: dict, **config):
    return make_app(DEPLOYMENT=deployment({"corp": connector}, journeys=JOURNEYS), **config)


class Browser:
    """One browser at Ferry (the Flask test client): app -> sign-in page -> provider -> back."""

    def __init__(self, app) -> None:
        self.app = app
        self.client = app.test_client()
        self.walker = SignIn(self.client)

    def to_provider(self) -> str:
        """Press "Continue with Corp ID"; returns where Ferry sends the browser."""
        assert self.walker.authorize().status_code == 302
        sign_in_page = self.walker.open()
        assert f"Continue with {PROVIDER}" in page_text(sign_in_page)
        response = self.walker.post(federate="corp")
        assert response.status_code == 303, page_text(response)[:800]
        return response.headers["Location"]

    def back(self, answer: Answer | dict[str, str]):
        """The IdP's answer reaches the callback; returns the callback's response."""
        if isinstance(answer, dict):
            answer = Answer("GET", f"{CALLBACK}?{urlencode(answer)}")
        if answer.method == "POST":
            return self.client.post(answer.url, data=answer.form)
        return self.client.get(answer.url)

    def back_and_on(self, answer: Answer | dict[str, str]):
        """The answer, then Ferry's redirect to its sign-in page; returns that page's response."""
        callback = self.back(answer)
        assert callback.status_code == 303, page_text(callback)[:800]
        assert urlsplit(callback.headers["Location"]).path == "/login"
        response = self.client.get("/login")
        if response.status_code == 200:
            self.walker.page = response
        return response

    def app_id_token(self, response) -> dict:
        """The signed-in user as the app sees them (Ferry's own ID token)."""
        tokens = self.walker.exchange(self.walker.code_from(response))
        assert tokens.status_code == 200, tokens.get_data(as_text=True)
        return self.walker.id_token_claims(tokens.get_json()["id_token"])


def sign_in_with_peer(app, peer: OidcProviderPeer, login: str, **walk) -> tuple[Browser, object]:
    browser = Browser(app)
    answer = peer.sign_in(browser.to_provider(), login, CALLBACK, **walk)
    return browser, browser.back_and_on(answer)


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


def rejection_reasons(app) -> list[str]:
    return [event.details.get("reason", "") for event in audit(app, "federation.rejected")]


def snapshot(app) -> list[tuple]:
    """Every user and link as they stand, to prove that nothing changed."""
    with app.app_context(), db.connection_context():
        return ([tuple(u.__data__.items()) for u in User.select().order_by(User.id)]
                + [tuple(link.__data__.items()) for link in LegacyLink.select()])


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


# -- refused at the IdP, or the IdP down: clear pages, nothing changed --------------------------
def test_cancelling_at_the_idp_is_a_refusal(make_app, oidc_provider):
    app = ferry(make_app, peer_connector(oidc_provider))
    browser = Browser(app)
    answer = oidc_provider.sign_in(browser.to_provider(), "alice", CALLBACK, cancel=True)
    assert dict(parse_qsl(urlsplit(answer.url).query))["error"] == "access_denied"

    page = browser.back_and_on(answer)
    assert page.status_code == 200 and REFUSED in page_text(page)
    assert f"Continue with {PROVIDER}" in page_text(page)  # back on the sign-in page
    assert users(app) == [] and len(audit(app, "federation.refused")) == 1


@pytest.mark.parametrize("error", ["server_error", "temporarily_unavailable", "invalid_scope"])
def test_error_answers_that_are_no_refusal_mean_try_again_later(make_app, scripted, error):
    app = ferry(make_app, scripted_connector(scripted))
    browser = Browser(app)
    params = scripted.authorize(browser.to_provider())
    page = browser.back_and_on({"error": error, "state": params["state"], "iss": params["iss"]})
    assert page.status_code == 200 and UNAVAILABLE in page_text(page)
    assert users(app) == [] and error in audit(app, "legacy.unavailable")[-1].details["reason"]


def test_error_answers_relayed_by_browsers_never_open_the_circuit_breaker(make_app, scripted):
    app = ferry(make_app, scripted_connector(scripted, breaker_failures=1))
    for _attempt in range(2):
        browser = Browser(app)
        params = scripted.authorize(browser.to_provider())  # still sent to the IdP: not open
        page = browser.back_and_on({"error": "server_error", "state": params["state"],
                                    "iss": params["iss"]})
        assert UNAVAILABLE in page_text(page)
    # A real outage of the token endpoint (Ferry's own call) does open it.
    scripted.http.routes["/token"] = Reply(503, "down", "text/plain")
    browser = Browser(app)
    browser.back_and_on(scripted.authorize(browser.to_provider()))
    browser = Browser(app)
    browser.walker.authorize()
    browser.walker.open()
    page = browser.walker.post(federate="corp")
    assert page.status_code == 200 and UNAVAILABLE in page_text(page)
    assert "circuit breaker open" in audit(app, "legacy.unavailable")[-1].details["reason"]


def test_a_small_clock_skew_is_tolerated(make_app, scripted):
    app = ferry(make_app, scripted_connector(scripted, clock_skew=60))
    now = int(time.time())
    scripted.id_token_claims.update(iat=now + 30, exp=now - 30)  # the IdP's clock is behind
    browser = Browser(app)
    done = browser.back_and_on(scripted.authorize(browser.to_provider()))
    assert browser.app_id_token(done)["email"] == "alice@example.com"


def test_token_endpoint_down_after_the_user_left(make_app, make_peer):
    peer = make_peer()
    app = ferry(make_app, peer_connector(peer))
    browser = Browser(app)
    answer = peer.sign_in(browser.to_provider(), "alice", CALLBACK)
    peer.stop()  # the IdP goes down while the browser is on its way back

    page = browser.back_and_on(answer)
    assert page.status_code == 200 and UNAVAILABLE in page_text(page)
    assert users(app) == []
    assert "could not connect" in audit(app, "legacy.unavailable")[-1].details["reason"]


@pytest.fixture
def make_peer() -> Iterator[Callable[[], OidcProviderPeer]]:
    """A peer of the test's own, for tests that stop it."""
    started: list[OidcProviderPeer] = []

    def start() -> OidcProviderPeer:
        started.append(OidcProviderPeer(ACCOUNTS).start())
        return started[-1]

    yield start
    for peer in started:
        peer.close()


@pytest.mark.parametrize("failure", ["closed port", "HTTP 502", "garbage", "no id_token"])
def test_token_endpoint_failing_means_try_again_later(make_app, scripted, failure):
    if failure == "closed port":
        scripted.discovery_overrides["token_endpoint"] = closed_port_url()
    elif failure == "HTTP 502":
        scripted.http.routes["/token"] = Reply(502, "<h1>Bad gateway</h1>", "text/html")
    elif failure == "garbage":
        scripted.http.routes["/token"] = Reply(200, "not json", "text/plain")
    else:
        scripted.http.routes["/token"] = Reply(200, {"access_token": "x", "token_type": "Bearer"})
    app = ferry(make_app, scripted_connector(scripted))
    browser = Browser(app)
    page = browser.back_and_on(scripted.authorize(browser.to_provider()))
    assert page.status_code == 200 and UNAVAILABLE in page_text(page)
    assert users(app) == [] and rejection_reasons(app) == []
    assert len(audit(app, "legacy.unavailable")) == 1


def test_the_idp_unreachable_before_leaving_means_try_again_later(make_app, scripted):
    app = ferry(make_app, scripted_connector(scripted, issuer=closed_port_url("")))
    browser = Browser(app)
    assert browser.walker.authorize().status_code == 302
    browser.walker.open()
    page = browser.walker.post(federate="corp")
    assert page.status_code == 200 and UNAVAILABLE in page_text(page)
    assert users(app) == []


def test_a_discovery_document_of_another_issuer_is_not_used(make_app, scripted, caplog):
    scripted.discovery_overrides["issuer"] = "https://impostor.example"
    app = ferry(make_app, scripted_connector(scripted))
    browser = Browser(app)
    assert browser.walker.authorize().status_code == 302
    browser.walker.open()
    page = browser.walker.post(federate="corp")
    assert page.status_code == 200 and UNAVAILABLE in page_text(page)
    assert "names another issuer" in audit(app, "legacy.unavailable")[-1].details["reason"]
    assert "impostor.example" in caplog.text  # told to the operator
    assert scripted.calls("/token") == []


def test_discovery_endpoints_must_be_https(make_app, scripted):
    scripted.discovery_overrides["token_endpoint"] = "http://idp.example/token"
    app = ferry(make_app, scripted_connector(scripted))
    browser = Browser(app)
    browser.walker.authorize()
    browser.walker.open()
    page = browser.walker.post(federate="corp")
    assert UNAVAILABLE in page_text(page)
    assert "token_endpoint" in audit(app, "legacy.unavailable")[-1].details["reason"]


# -- forged, replayed or mixed-up answers: refused, audited, nothing changed ---------------------
def test_a_wrong_state_is_refused_and_the_real_sign_in_still_works(make_app, oidc_provider):
    app = ferry(make_app, peer_connector(oidc_provider))
    browser = Browser(app)
    answer = oidc_provider.sign_in(browser.to_provider(), "alice", CALLBACK)
    query = dict(parse_qsl(urlsplit(answer.url).query))

    forged = browser.back({**query, "state": secrets.token_urlsafe(32)})
    assert forged.status_code == 400 and EXPIRED in page_text(forged)
    missing = browser.back({k: v for k, v in query.items() if k != "state"})
    assert missing.status_code == 400 and EXPIRED in page_text(missing)
    assert users(app) == [] and audit(app, "legacy.verified") == []
    assert rejection_reasons(app) == ["unknown, expired or already used state"] * 2

    browser.app_id_token(browser.back_and_on(answer))  # the genuine answer is still good
    assert [u.email for u in users(app)] == ["alice@example.com"]


def test_a_replayed_answer_is_refused(make_app, oidc_provider):
    app = ferry(make_app, peer_connector(oidc_provider))
    browser = Browser(app)
    answer = oidc_provider.sign_in(browser.to_provider(), "alice", CALLBACK)
    browser.app_id_token(browser.back_and_on(answer))
    before = snapshot(app)

    for replayer in (browser, Browser(app)):  # the same browser, and an attacker's
        replay = replayer.back(answer)
        assert replay.status_code == 400 and EXPIRED in page_text(replay)
    assert snapshot(app) == before
    assert rejection_reasons(app) == ["unknown, expired or already used state"] * 2
    assert len(audit(app, "legacy.verified")) == 1


def test_an_answer_from_another_issuer_is_refused(make_app, oidc_provider, scripted):
    """Mix-up: the answer names another IdP (here one Ferry also trusts)."""
    app = ferry(make_app, peer_connector(oidc_provider))
    browser = Browser(app)
    answer = oidc_provider.sign_in(browser.to_provider(), "alice", CALLBACK)
    query = dict(parse_qsl(urlsplit(answer.url).query))

    page = browser.back_and_on({**query, "iss": scripted.issuer})
    assert page.status_code == 200 and REJECTED in page_text(page)
    assert rejection_reasons(app) == ["the answer comes from another issuer (iss parameter)"]
    assert users(app) == [] and audit(app, "legacy.verified") == []


def test_an_answer_without_the_promised_iss_is_refused(make_app, oidc_provider):
    app = ferry(make_app, peer_connector(oidc_provider))
    browser = Browser(app)
    answer = oidc_provider.sign_in(browser.to_provider(), "alice", CALLBACK)
    query = dict(parse_qsl(urlsplit(answer.url).query))
    assert oidc_provider.discovery()["authorization_response_iss_parameter_supported"] is True

    page = browser.back_and_on({k: v for k, v in query.items() if k != "iss"})
    assert REJECTED in page_text(page)
    assert rejection_reasons(app) == ["the answer lacks the iss parameter this IdP always sends"]
    assert users(app) == []


def _none_signed(idp: ScriptedOidcProvider) -> None:
    """An unsigned token (``alg: none``), built by hand since no JOSE library makes one."""
    original = idp.id_token

    def unsigned(grant, access_token=None):
        claims = jwt.decode(original(grant, access_token), idp.key).claims
        encode = lambda data: base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=")  # noqa: E731
        return (encode({"alg": "none", "typ": "JWT"}) + b"." + encode(claims) + b".").decode()

    idp.id_token = unsigned


def _hs256_with_client_secret(idp: ScriptedOidcProvider) -> None:
    idp.alg, idp.sign_with = "HS256", OctKey.import_key(idp.client_secret)
    idp.header = {"kid": None}


def _forger_key(kid: str) -> Callable[[ScriptedOidcProvider], None]:
    def forge(idp: ScriptedOidcProvider) -> None:
        idp.sign_with = RSAKey.generate_key(2048, parameters={"kid": kid})
    return forge


def _no_kid_among_several_keys(idp: ScriptedOidcProvider) -> None:
    idp.published = [idp.key, RSAKey.generate_key(2048, parameters={"kid": "scripted-2"})]
    idp.header = {"kid": None}


def _claims(**claims) -> Callable[[ScriptedOidcProvider], None]:
    def forge(idp: ScriptedOidcProvider) -> None:
        now = int(time.time())
        idp.id_token_claims.update({k: (v(now) if callable(v) else v) for k, v in claims.items()})
    return forge


def _userinfo(**claims) -> Callable[[ScriptedOidcProvider], None]:
    def forge(idp: ScriptedOidcProvider) -> None:
        idp.userinfo_claims.update(claims)
    return forge


#: (name, what the forger does to the IdP's token, what to do to the answer, audited reason)
FORGERIES = [
    ("wrong nonce", _claims(nonce="the-nonce-of-another-sign-in"), None,
     "the ID token's 'nonce' claim is wrong"),
    ("no nonce", _claims(nonce=DROP), None, "the ID token lacks the 'nonce' claim"),
    ("another audience", _claims(aud="another-client"), None, "the ID token's 'aud' claim is wrong"),
    ("several audiences, no azp", _claims(aud=["ferry-scripted", "another-client"]), None,
     "the ID token lacks the 'azp' claim"),
    ("azp of another client", _claims(aud=["ferry-scripted", "x"], azp="x"), None,
     "the ID token's 'azp' claim is wrong"),
    ("expired", _claims(iat=lambda now: now - 7200, exp=lambda now: now - 3600), None,
     "the ID token has expired"),
    ("issued in the future", _claims(iat=lambda now: now + 3600, exp=lambda now: now + 7200), None,
     "the ID token's 'iat' claim is wrong"),
    ("no expiry", _claims(exp=DROP), None, "the ID token lacks the 'exp' claim"),
    ("another issuer in the token", _claims(iss="https://other-idp.example"), None,
     "the ID token's 'iss' claim is wrong"),
    ("access token hash of another token", _claims(at_hash="bm90IHRoZSBoYXNo"), None,
     "the ID token's 'at_hash' claim is wrong"),
    ("signed by another key under a known kid", _forger_key("scripted-1"), None,
     "the ID token's signature does not verify"),
    ("signed by an unknown key", _forger_key("forger-1"), None,
     "the ID token is signed by a key the IdP does not publish"),
    ("no kid although the IdP has several keys", _no_kid_among_several_keys, None,
     "the ID token names no key (kid) of the several the IdP publishes"),
    ("unsigned (alg none)", _none_signed, None,
     "the ID token is signed with 'none', not an accepted algorithm"),
    ("HS256 with the client secret", _hs256_with_client_secret, None,
     "the ID token is signed with 'HS256', not an accepted algorithm"),
    ("userinfo about someone else", _userinfo(sub="mallory"), None,
     "userinfo describes another subject than the ID token"),
    ("a code the IdP never issued", None, lambda p: {**p, "code": "made-up-code"},
     "the token endpoint refused the code (invalid_grant)"),
    ("mixed-up issuer", None, lambda p: {**p, "iss": "https://other-idp.example"},
     "the answer comes from another issuer (iss parameter)"),
    ("no code, no error", None, lambda p: {k: v for k, v in p.items() if k != "code"},
     "the answer carries neither a code nor an error"),
]


@pytest.mark.parametrize(("forge", "tamper", "reason"), [f[1:] for f in FORGERIES],
                         ids=[f[0] for f in FORGERIES])
def test_forged_answers_are_refused_audited_and_change_nothing(make_app, scripted, forge, tamper,
                                                                reason):
    app = ferry(make_app, scripted_connector(scripted))
    create_local_user(app, "someone@example.com", "a password")  # the forger must not touch it
    before = snapshot(app)
    if forge:
        forge(scripted)
    browser = Browser(app)
    params = scripted.authorize(browser.to_provider())
    page = browser.back_and_on(tamper(params) if tamper else params)

    assert page.status_code == 200 and REJECTED in page_text(page)
    assert f"Continue with {PROVIDER}" in page_text(page)  # back on the sign-in page
    assert rejection_reasons(app) == [reason]
    assert snapshot(app) == before
    assert audit(app, "legacy.verified") == [] and audit(app, "user.migrated") == []


def test_an_unknown_kid_refetches_the_keys_once_not_for_every_forgery(make_app, scripted):
    app = ferry(make_app, scripted_connector(scripted))
    _forger_key("forger-1")(scripted)
    for _attempt in range(3):
        browser = Browser(app)
        page = browser.back_and_on(scripted.authorize(browser.to_provider()))
        assert REJECTED in page_text(page)
    assert len(scripted.calls("/jwks")) == 2  # the first fetch, and one more for the unknown kid


# -- presets -----------------------------------------------------------------------------------
def build(make_app, table: dict):
    app = make_app()
    with app.app_context():
        return connectors.build_connectors({"corp": table}, app.config)["corp"]


P256 = ECKey.generate_key("P-256")
APPLE = {"type": "oidc", "preset": "apple", "client_id": "com.example.ferry", "team_id": "TEAM123456",
         "key_id": "KEY1234567", "private_key": P256.as_pem(private=True).decode()}


@pytest.mark.parametrize(("table", "issuer"), [
    ({"preset": "google"}, "https://accounts.google.com"),
    ({"preset": "microsoft", "tenant": "contoso.onmicrosoft.com"},
     "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0"),
    ({"preset": "microsoft", "tenant": "organizations"},
     "https://login.microsoftonline.com/organizations/v2.0"),
    ({"preset": "auth0", "domain": "corp.eu.auth0.com"}, "https://corp.eu.auth0.com/"),
    ({"preset": "okta", "domain": "corp.okta.com"}, "https://corp.okta.com/oauth2/default"),
    ({"preset": "okta", "domain": "corp.okta.com", "authorization_server": "org"},
     "https://corp.okta.com"),
    ({"preset": "keycloak", "base_url": "https://sso.example.com/", "realm": "staff"},
     "https://sso.example.com/realms/staff"),
])
def test_presets_need_only_the_client_and_what_is_inherent(make_app, table, issuer):
    connector = build(make_app, {"type": "oidc", "client_id": "ferry", "client_secret": "s", **table})
    assert connector.issuer == issuer
    assert connector.settings.scopes == ["openid", "email", "profile"]


@pytest.mark.parametrize(("table", "problem"), [
    ({"client_secret": "s"}, "issuer: required without a preset"),
    ({"issuer": "http://idp.example.com", "client_secret": "s"}, "https"),
    ({"issuer": "https://idp.example.com"}, "client_secret: required"),
    ({"issuer": "https://idp.example.com", "client_secret": "s", "scope": "email"},
     "must include openid"),
    ({"issuer": "https://idp.example.com", "client_secret": "s",
      "extra_authorize_params": {"state": "x", "prompt": "login"}}, "Ferry sets state itself"),
    ({"issuer": "https://idp.example.com", "client_secret": "s", "claims": "{not json"},
     "must be a table or a JSON object"),
    ({"issuer": "https://idp.example.com", "client_secret": "s", "tenant": "common"},
     "tenant: only for preset microsoft"),
    ({"preset": "microsoft", "client_secret": "s"}, "tenant: required by preset 'microsoft'"),
    ({"preset": "auth0", "client_secret": "s", "domain": "evil.example/x"}, "bare name"),
    ({"preset": "keycloak", "client_secret": "s", "base_url": "https://sso.example.com"},
     "realm: required"),
    ({"issuer": "https://idp.example.com", "client_auth": "private_key_jwt"},
     "private_key: required"),
    ({"issuer": "https://idp.example.com", "client_auth": "private_key_jwt",
      "private_key": "not a key"}, "not an RSA or EC"),
    ({**APPLE, "client_secret": "s"}, "client_secret: Apple's is generated"),
    ({**APPLE, "private_key": RSAKey.generate_key(2048).as_pem(private=True).decode()},
     "not a P-256 private key"),
    ({k: v for k, v in APPLE.items() if k != "team_id"}, "team_id: required"),
])
def test_settings_problems_are_told_at_start_up(make_app, table, problem):
    with pytest.raises(ConfigError) as error:
        build(make_app, {"type": "oidc", "client_id": "ferry", **table})
    assert problem in str(error.value.problems)


def test_google_tokens_may_name_the_issuer_without_scheme():
    google = PRESETS["google"]
    assert google.token_issuers(GOOGLE_ISSUER, {}) == [GOOGLE_ISSUER, "accounts.google.com"]


@pytest.fixture
def microsoft() -> Iterator[ScriptedOidcProvider]:
    """A scripted multi-tenant Microsoft endpoint: issuer ``.../{tenantid}/v2.0`` in discovery."""
    with ScriptedOidcProvider(issuer_path="/organizations/v2.0") as idp:
        idp.discovery_overrides.update(issuer=idp.url("/{tenantid}/v2.0"),
                                       authorization_response_iss_parameter_supported=False)
        yield idp


TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


@pytest.mark.parametrize(("token_claims", "accepted"), [
    ({"tid": TENANT, "iss": "/" + TENANT + "/v2.0"}, True),
    ({"tid": TENANT, "iss": "/00000000-0000-0000-0000-000000000000/v2.0"}, False),
    ({"iss": "/" + TENANT + "/v2.0"}, False),
    ({"tid": TENANT, "iss": "/{tenantid}/v2.0"}, False),
])
def test_microsoft_multi_tenant_issuer_is_filled_with_the_tenant(make_app, microsoft, token_claims,
                                                                  accepted):
    app = ferry(make_app, scripted_connector(
        microsoft, preset="microsoft", tenant="organizations",
        issuer=microsoft.url("/organizations/v2.0")))
    microsoft.id_token_claims.update(
        {**token_claims, "iss": microsoft.url(token_claims["iss"])})
    browser = Browser(app)
    params = microsoft.authorize(browser.to_provider())
    page = browser.back_and_on({k: v for k, v in params.items() if k != "iss"})
    if accepted:
        assert browser.app_id_token(page)["email"] == "alice@example.com"
    else:
        assert REJECTED in page_text(page)
        assert rejection_reasons(app) == ["the ID token's 'iss' claim is wrong"]


def test_microsoft_discovery_must_still_be_microsofts_shape():
    microsoft = PRESETS["microsoft"]

    def settings(tenant):
        return type("S", (), {"tenant": tenant})()

    configured = "https://login.microsoftonline.com/organizations/v2.0"
    ok = microsoft.discovery_issuer_ok
    assert ok(settings("organizations"), configured,
              "https://login.microsoftonline.com/{tenantid}/v2.0")
    assert not ok(settings("organizations"), configured,
                  "https://evil.example/{tenantid}/v2.0")
    assert ok(settings("contoso.com"), "https://login.microsoftonline.com/contoso.com/v2.0",
              f"https://login.microsoftonline.com/{TENANT}/v2.0")
    assert not ok(settings(TENANT), f"https://login.microsoftonline.com/{TENANT}/v2.0",
                  "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0")


@pytest.fixture
def apple() -> Iterator[ScriptedOidcProvider]:
    """A scripted Sign in with Apple: no userinfo, a generated client secret, e-mail_verified
    as a string, and the user's name in a ``user`` form field of the first answer only."""
    received: list[dict] = []

    def secret_ok(secret: str) -> bool:
        try:  # signed with the team's key (only its public half is known here)
            token = jwt.decode(secret, ECKey.import_key(P256.as_dict(private=False)),
                               algorithms=["ES256"])
        except JoseError:
            return False
        received.append({"header": token.header, "claims": token.claims})
        return True

    with ScriptedOidcProvider(client_id=APPLE["client_id"], client_secret=secret_ok) as idp:
        idp.received_secrets = received  # type: ignore[attr-defined]
        idp.discovery_overrides.update(userinfo_endpoint=None,
                                       authorization_response_iss_parameter_supported=False,
                                       token_endpoint_auth_methods_supported=["client_secret_post"])
        idp.id_token_claims.update(email="alice@privaterelay.appleid.com", email_verified="true",
                                   is_private_email="true")
        yield idp


def test_apple_preset(make_app, apple):
    app = ferry(make_app, {**APPLE, "display_name": PROVIDER, "issuer": apple.issuer})
    browser = Browser(app)
    location = browser.to_provider()
    query = dict(parse_qsl(urlsplit(location).query))
    assert query["response_mode"] == "form_post" and query["scope"] == "openid name email"

    params = apple.authorize(location)
    # Only the first answer carries the name; the e-mail in it is unsigned and must be ignored.
    user_field = json.dumps({"name": {"firstName": "Alice", "lastName": "Liddell"},
                             "email": "mallory@example.com"})
    done = browser.back_and_on(Answer("POST", CALLBACK, {**params, "user": user_field}))
    assert browser.app_id_token(done)["email"] == "alice@privaterelay.appleid.com"

    [user] = users(app)
    assert (user.email, user.email_verified, user.given_name, user.family_name, user.name) == (
        "alice@privaterelay.appleid.com", True, "Alice", "Liddell", "Alice Liddell")
    [secret] = apple.received_secrets
    assert (secret["header"]["alg"], secret["header"]["kid"]) == ("ES256", "KEY1234567")
    claims = secret["claims"]
    assert (claims["iss"], claims["sub"], claims["aud"]) == ("TEAM123456", APPLE["client_id"],
                                                             apple.issuer)
    assert 0 < claims["exp"] - claims["iat"] <= 15_777_000  # Apple's six months at most
    assert apple.calls("/userinfo") == []
    assert "client_secret" in apple.calls("/token")[0].form()

    # The next sign-ins bring no name: the one kept stays.
    again = Browser(app)
    params = apple.authorize(again.to_provider())
    again.app_id_token(again.back_and_on(Answer("POST", CALLBACK, params)))
    [user] = users(app)
    assert (user.given_name, user.name) == ("Alice", "Alice Liddell")
