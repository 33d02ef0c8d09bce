"""Ferry's side of the ``oidc`` connector's tests: the journey of the README's "continue with"
section (:data:`JOURNEY_TOML`), the connector settings for the peers, Ferry built with them
(:func:`ferry`), a :class:`Browser` going app -> sign-in page -> provider -> back with the Flask
test client, and what Ferry holds afterwards (users, links, audit events)."""

from __future__ import annotations

import tomllib
from urllib.parse import urlencode, urlsplit

from models import AuditEvent, LegacyLink, User, db
from tests.conftest import SignIn, deployment
from tests.connectors.conftest import page_text
from tests.peers.oidc_provider import Answer, OidcProviderPeer
from tests.peers.oidc_scripted import ScriptedOidcProvider

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
        sign_in_page = self.walker.start()
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
