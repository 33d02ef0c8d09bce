""""Continue with Facebook" in a real browser: the demo app, Ferry and the fake of Meta.

Headless Chromium signs in to the demo app through Ferry, whose legacy source is the ``meta``
connector pointed at :class:`~tests.peers.meta_fake.MetaFake` on its own site
(``http://127.0.0.1:PORT``, while Ferry is ``http://localhost:PORT``). The user presses
"Continue with Facebook", answers Meta's Login Dialog, and comes back through Ferry's callback
to the app: the first time migrates the user, the next time links to the same user; pressing
"Cancel" in the dialog brings them back to Ferry's sign-in page with nothing created.
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
from tests.connectors.test_meta import JOURNEYS, NAME, PROVIDER, REFUSED
from tests.peers.meta_fake import APP_ID, APP_SECRET, VERSION, MetaFake

pytestmark = pytest.mark.browser


class MetaServers:
    """Ferry (with the ``facebook`` connector), the demo app, and the fake of Meta."""

    def __init__(self, make_app) -> None:
        self.ferry, self.demo = ServedApp("ferry"), ServedApp("demo-app")
        self.meta = MetaFake([f"{self.ferry.url}/federate/{NAME}/callback"]).start()
        tables = deployment({NAME: {
            "type": "meta", "display_name": PROVIDER, "client_id": APP_ID,
            "client_secret": APP_SECRET, "api_version": VERSION,
            "dialog_url": self.meta.base_url, "graph_url": self.meta.base_url,
        }}, journeys=JOURNEYS)
        tables["apps"][DEMO_CLIENT_ID] = {
            "name": "Demo app", "client_secret": DEMO_CLIENT_SECRET,
            "redirect_uris": [f"{self.demo.url}/callback"],
            "post_logout_redirect_uris": [f"{self.demo.url}/"],
        }
        self.ferry.serve(make_app(ISSUER=self.ferry.url, DEPLOYMENT=tables))
        self.demo.serve(client_app.create_app({
            "FERRY_URL": self.ferry.url, "DEMO_APP_URL": self.demo.url,
            "SECRET_KEY": "demo-test-key",
            "FERRY_CLIENT_ID": DEMO_CLIENT_ID, "FERRY_CLIENT_SECRET": DEMO_CLIENT_SECRET,
        }))

    def stop(self) -> None:
        self.demo.stop()
        self.ferry.stop()
        self.meta.close()

    def users(self) -> list[User]:
        with self.ferry.app.app_context(), db.connection_context():
            return list(User.select())

    def links(self) -> list[tuple[str, str, str]]:
        with self.ferry.app.app_context(), db.connection_context():
            return [(link.connector, link.subject, link.user_id) for link in LegacyLink.select()]


@pytest.fixture
def meta_servers(make_app, monkeypatch) -> Iterator[Callable[[], MetaServers]]:
    # The demo app reaches Ferry, and Ferry the fake, with requests: no proxy may intervene.
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    started: list[MetaServers] = []

    def start() -> MetaServers:
        started.append(MetaServers(make_app))
        return started[-1]

    yield start
    for servers in started:
        servers.stop()


def continue_with_facebook(page: Page, servers: MetaServers) -> None:
    page.goto(f"{servers.demo.url}/")
    page.get_by_role("link", name="Sign in").click()
    # /authorize answers Ferry's sign-in page itself (no redirect to /login).
    expect(page).to_have_url(re.compile(rf"^{re.escape(servers.ferry.url)}/authorize\?"))
    page.get_by_role("button", name=f"Continue with {PROVIDER}").click()
    dialog = re.compile(rf"^{re.escape(servers.meta.base_url)}/{re.escape(VERSION)}/dialog/oauth\?")
    expect(page).to_have_url(dialog)
    expect(page.get_by_role("heading", name="Log in to Facebook")).to_be_visible()


def signed_in_as(page: Page, servers: MetaServers, email: str) -> str:
    # Meta appends "#_=_" to its redirect; the browser carries the fragment along.
    expect(page).to_have_url(re.compile(rf"^{re.escape(servers.demo.url)}/(#_=_)?$"))
    expect(page.get_by_text("You are signed in.")).to_be_visible()
    expect(claim_cell(page, "email")).to_have_text(email)
    return claim_cell(page, "sub").inner_text()


def claim_cell(page: Page, claim: str):
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=claim, exact=True))
    return row.get_by_role("cell")


def test_continue_with_facebook_migrates_then_links_to_the_same_user(page: Page, meta_servers,
                                                                      screenshot):
    servers = meta_servers()
    continue_with_facebook(page, servers)
    screenshot("login-dialog")
    page.get_by_role("button", name="Continue as Alice").click()
    sub = signed_in_as(page, servers, "alice@example.com")
    screenshot("signed-in")

    [user] = servers.users()
    assert (user.id, user.email, user.email_verified, user.name) == (
        sub, "alice@example.com", False, "Alice Liddell")
    assert servers.links() == [(NAME, servers.meta.user.id, sub)]

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are not signed in.")).to_be_visible()
    continue_with_facebook(page, servers)
    page.get_by_role("button", name="Continue as Alice").click()
    assert signed_in_as(page, servers, "alice@example.com") == sub
    assert [u.id for u in servers.users()] == [sub]


def test_cancelling_in_the_dialog_comes_back_to_the_sign_in_page(page: Page, meta_servers,
                                                                 screenshot):
    servers = meta_servers()
    continue_with_facebook(page, servers)
    page.get_by_role("button", name="Cancel").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(servers.ferry.url)}/login"))
    expect(page.get_by_text(REFUSED)).to_be_visible()
    expect(page.get_by_role("button", name=f"Continue with {PROVIDER}")).to_be_visible()
    screenshot("cancelled")
    assert servers.users() == [] and servers.links() == []
