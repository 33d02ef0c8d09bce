""""Continue with <legacy IdP>" in a real browser: the demo app, Ferry and a real OpenID Provider.

Headless Chromium signs in to the demo app through Ferry, whose legacy IdP is the npm
``oidc-provider`` on its own origin: the user presses "Continue with Corp ID" on Ferry's page,
signs in on the IdP's own login page, consents, and comes back through Ferry's callback (a
redirect, or with ``form_post`` a cross-origin POST) to the app. The first time migrates the
user; the next time links to the same user.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from demo import client_app
from models import LegacyLink, User, db
from tests.browser.conftest import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, ServedApp
from tests.conftest import deployment
from tests.connectors.oidc.conftest import oidc_provider  # noqa: F401 - the fixture
from tests.connectors.oidc.flow import ACCOUNTS, JOURNEYS, PROVIDER
from tests.peers.oidc_provider import OidcProviderPeer

pytestmark = pytest.mark.browser


class OidcServers:
    """Ferry (with the ``corp`` OIDC connector) and the demo app, each on its own port."""

    def __init__(self, make_app, idp: OidcProviderPeer) -> None:
        self.make_app = make_app
        self.idp = idp
        self.ferry, self.demo = ServedApp("ferry"), ServedApp("demo-app")

    def serve(self, **connector_settings) -> OidcServers:
        callback = f"{self.ferry.url}/federate/corp/callback"
        client = self.idp.register_client([callback])
        tables = deployment({"corp": {
            "type": "oidc", "display_name": PROVIDER, "issuer": self.idp.issuer,
            "client_id": client["client_id"], "client_secret": client["client_secret"],
            **connector_settings,
        }}, journeys=JOURNEYS)
        tables["apps"][DEMO_CLIENT_ID] = {
            "name": "Demo app", "client_secret": DEMO_CLIENT_SECRET,
            "redirect_uris": [f"{self.demo.url}/callback"],
            "post_logout_redirect_uris": [f"{self.demo.url}/"],
        }
        self.ferry.serve(self.make_app(ISSUER=self.ferry.url, DEPLOYMENT=tables))
        self.demo.serve(client_app.create_app({
            "FERRY_URL": self.ferry.url, "DEMO_APP_URL": self.demo.url,
            "SECRET_KEY": "demo-test-key",
            "FERRY_CLIENT_ID": DEMO_CLIENT_ID, "FERRY_CLIENT_SECRET": DEMO_CLIENT_SECRET,
        }))
        return self

    def stop(self) -> None:
        self.demo.stop()
        self.ferry.stop()

    def users(self) -> list[User]:
        with self.ferry.app.app_context(), db.connection_context():
            return list(User.select())

    def links(self) -> list[tuple[str, str, str]]:
        with self.ferry.app.app_context(), db.connection_context():
            return [(link.connector, link.subject, link.user_id) for link in LegacyLink.select()]


@pytest.fixture
def oidc_servers(make_app, oidc_provider, monkeypatch) -> Iterator[Callable[..., OidcServers]]:  # noqa: F811
    # The demo app reaches Ferry, and Ferry the IdP, with requests: no proxy may intervene.
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    started: list[OidcServers] = []

    def start(**connector_settings) -> OidcServers:
        started.append(OidcServers(make_app, oidc_provider).serve(**connector_settings))
        return started[-1]

    yield start
    for servers in started:
        servers.stop()


# -- what a user does ----------------------------------------------------------------------------
def continue_with_provider(page: Page, servers: OidcServers) -> None:
    """From the demo app's home page to Ferry's sign-in page, and on to the IdP."""
    page.goto(f"{servers.demo.url}/")
    page.get_by_role("link", name="Sign in").click()
    # /authorize answers Ferry's sign-in page itself (no redirect to /login).
    expect(page).to_have_url(re.compile(rf"^{re.escape(servers.ferry.url)}/authorize\?"))
    page.get_by_role("button", name=f"Continue with {PROVIDER}").click()


def sign_in_at_the_idp(page: Page, servers: OidcServers, login: str, screenshot) -> None:
    expect(page).to_have_url(re.compile(rf"^{re.escape(servers.idp.issuer)}/interaction/"))
    page.get_by_placeholder("Enter any login").fill(login)
    page.get_by_placeholder("and password").fill("any password will do here")
    screenshot("idp-login")
    page.get_by_role("button", name="Sign-in").click()
    # The IdP asks once whether Ferry may read the profile.
    expect(page.get_by_role("listitem").filter(has_text=re.compile("^email$"))).to_be_visible()
    page.get_by_role("button", name="Continue").click()


def expect_signed_in_to_demo_app(page: Page, servers: OidcServers, email: str) -> str:
    expect(page).to_have_url(f"{servers.demo.url}/")
    expect(page.get_by_text("You are signed in.")).to_be_visible()
    expect(claim_cell(page, "email")).to_have_text(email)
    return claim_cell(page, "sub").inner_text()


def claim_cell(page: Page, claim: str):
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=claim, exact=True))
    return row.get_by_role("cell")


# -- the tests -----------------------------------------------------------------------------------
def test_continue_with_the_legacy_idp_migrates_then_links_to_the_same_user(
        page: Page, oidc_servers, screenshot):
    servers = oidc_servers()
    assert servers.users() == []

    continue_with_provider(page, servers)
    sign_in_at_the_idp(page, servers, "alice", screenshot)
    sub = expect_signed_in_to_demo_app(page, servers, "alice@example.com")
    screenshot("signed-in")

    [user] = servers.users()
    assert user.id == sub
    assert (user.email, user.email_verified, user.given_name, user.family_name, user.name) == (
        "alice@example.com", True, "Alice", "Liddell", "Alice Liddell")
    assert servers.links() == [("corp", "alice", sub)]

    # Signed out of the app and of Ferry, but still signed in at the IdP: "Continue with" goes
    # there and straight back, and lands on the same local user.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are not signed in.")).to_be_visible()
    continue_with_provider(page, servers)
    assert expect_signed_in_to_demo_app(page, servers, "alice@example.com") == sub
    assert [u.id for u in servers.users()] == [sub]
    assert servers.links() == [("corp", "alice", sub)]


def test_form_post_answers_come_back_across_origins(page: Page, oidc_servers, screenshot):
    servers = oidc_servers(response_mode="form_post")
    posted: list[str] = []
    page.on("request", lambda request: posted.append(request.url)
            if request.method == "POST" and "/federate/corp/callback" in request.url else None)

    continue_with_provider(page, servers)
    sign_in_at_the_idp(page, servers, "bob", screenshot)
    sub = expect_signed_in_to_demo_app(page, servers, "bob@example.com")

    assert posted == [f"{servers.ferry.url}/federate/corp/callback"]  # the IdP's page posted it
    assert [(u.id, u.email, u.name) for u in servers.users()] == [(sub, "bob@example.com",
                                                                   ACCOUNTS["bob"]["name"])]
