"""What the self-service browser tests share: Ferry served on loopback with the session's slapd
(which can look users up) and a real SMTP server, the steps a user takes, what Ferry holds, and
``test-app`` as a browser sees it (:class:`RoutedApp`), for the tests in this folder. The
fixtures are ``mail``, ``serve`` and ``site``; the tests import the rest from here.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import Page, expect

from demo import client_app
from models import User, UserSession, db
from tests.accounts import create_local_user
from tests.authenticators.mail import MailServer
from tests.browser.conftest import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, ServedApp
from tests.browser.test_migration_in_browser import (
    WRONG_CREDENTIALS,
    expect_signed_in_to_demo_app,
    open_ferry_sign_in,
    submit_credentials,
)
from tests.conftest import APP_REDIRECT, APP_SECRET, deployment, pkce_pair
from tests.connectors.ldap.conftest import ldap_table, slapd  # noqa: F401 (the session's slapd)

DORA = "dora@example.com"  # a local (migrated) user; not in the directory
DORA_OLD = "an old passphrase 1"
ALICE = "alice@example.com"  # in the directory only: not migrated
NEWCOMER = "newcomer@example.com"  # nobody's address yet
NEW_PASSWORD = "a brand new passphrase 7"
LOOKUPS = {  # the shipped journeys, told which connector looks up users not migrated yet
    "forgot-password": {"steps": {"send": {"lookup_connector": "corp-ldap"}}},
    "sign-up": {"steps": {"check": {"lookup_connector": "corp-ldap"}}},
}


# -- the servers ---------------------------------------------------------------------------------


@dataclass
class Site:
    """Ferry and the demo app, served; the mailbox Ferry's codes go to."""

    ferry: ServedApp
    demo: ServedApp
    mail: MailServer

    @property
    def ferry_app(self) -> Flask:
        assert self.ferry.app is not None
        return self.ferry.app


@pytest.fixture
def mail() -> Iterator[MailServer]:
    with MailServer() as server:
        yield server


@pytest.fixture
def serve(make_app, mail, monkeypatch) -> Iterator[Callable[..., Site]]:
    """``serve(connectors, journeys)``: Ferry with those legacy connectors and journey settings,
    sending its mail to ``mail``, and the demo app as one of its apps."""
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    served: list[ServedApp] = []

    def start(connectors: dict, journeys: dict | None = None) -> Site:
        ferry, demo = ServedApp("ferry"), ServedApp("demo-app")
        served.extend([demo, ferry])
        tables = deployment(connectors)
        tables["apps"][DEMO_CLIENT_ID] = {
            "name": "Demo app", "client_secret": DEMO_CLIENT_SECRET,
            "redirect_uris": [f"{demo.url}/callback"],
            "post_logout_redirect_uris": [f"{demo.url}/"],
        }
        if journeys:
            tables["journeys"] = journeys
        ferry.serve(make_app(ISSUER=ferry.url, DEPLOYMENT=tables, **mail.config()))
        demo.serve(client_app.create_app({
            "FERRY_URL": ferry.url, "DEMO_APP_URL": demo.url, "SECRET_KEY": "demo-test-key",
            "FERRY_CLIENT_ID": DEMO_CLIENT_ID, "FERRY_CLIENT_SECRET": DEMO_CLIENT_SECRET,
        }))
        return Site(ferry=ferry, demo=demo, mail=mail)

    try:
        yield start
    finally:
        for app in served:
            app.stop()


@pytest.fixture
def site(serve, slapd) -> Site:  # noqa: F811 (the session's slapd)
    """Ferry with the directory as its legacy IdP (and lookup), and Dora migrated already."""
    served = serve({"corp-ldap": ldap_table(slapd)}, LOOKUPS)
    create_local_user(served.ferry_app, DORA, DORA_OLD)
    return served


# -- what a user does ----------------------------------------------------------------------------


def heading(page: Page, name: str):
    return page.get_by_role("heading", level=1, name=name)


def enter_code_from_mailbox(page: Page, mail: MailServer, address: str, button: str = "Continue"):
    page.get_by_label("Code", exact=True).fill(mail.last_code(address))
    page.get_by_role("button", name=button, exact=True).click()


def choose_new_password(page: Page, password: str, button: str = "Save password") -> None:
    page.get_by_label("New password", exact=True).fill(password)
    page.get_by_label("New password again", exact=True).fill(password)
    page.get_by_role("button", name=button, exact=True).click()


def ask_for_a_reset_code(page: Page, site: Site, address: str) -> None:
    """From the demo app to Ferry's sign-in page, "Forgot your password?", then the address."""
    open_ferry_sign_in(page, site)
    page.get_by_role("link", name="Forgot your password?").click()
    expect(heading(page, "Forgot your password?")).to_be_visible()
    page.get_by_label("E-mail address").fill(address)
    page.get_by_role("button", name="Send me a code").click()
    expect(heading(page, "Enter your code")).to_be_visible()
    expect(page.get_by_text(f"If an account exists for {address}, we sent a code to it.")).to_be_visible()


def sign_out_of_demo_app(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are not signed in.")).to_be_visible()


def expect_only_the_new_password_works(page: Page, site: Site, address: str, old: str,
                                       new: str) -> str:
    """A fresh sign-in (no Ferry session left) with ``new`` reaches the app; ``old`` is refused.
    Returns the ``sub`` the app was given."""
    open_ferry_sign_in(page, site)
    submit_credentials(page, address, old)
    expect(page).to_have_url(f"{site.ferry.url}/login")
    expect(page.get_by_role("alert")).to_have_text(WRONG_CREDENTIALS)
    submit_credentials(page, None, new)
    sub = expect_signed_in_to_demo_app(page, site, address)
    sign_out_of_demo_app(page)
    return sub


def sign_in_to_account_page(page: Page, site: Site, address: str, password: str) -> None:
    open_ferry_sign_in(page, site)
    submit_credentials(page, address, password)
    expect_signed_in_to_demo_app(page, site, address)
    page.goto(f"{site.ferry.url}/")
    expect(heading(page, "Your account")).to_be_visible()


def prove_with_current_password(page: Page, password: str) -> None:
    expect(heading(page, "Confirm it's you")).to_be_visible()
    page.get_by_label("Current password").fill(password)
    page.get_by_role("button", name="Continue", exact=True).click()


# -- what Ferry holds ----------------------------------------------------------------------------


def user_row(site: Site, email: str) -> User | None:
    with site.ferry_app.app_context(), db.connection_context():
        return User.get_or_none(User.email == email)


def live_sessions(site: Site, user_id: str) -> int:
    with site.ferry_app.app_context(), db.connection_context():
        return UserSession.select().where((UserSession.user == user_id)
                                          & UserSession.ended_at.is_null()).count()


def notices(mail: MailServer, subject: str) -> list[str]:
    """To whom a notice e-mail with ``subject`` went, in order."""
    return [m["X-Envelope-To"] for m in mail.received if m["Subject"] == subject]


class RoutedApp:
    """``test-app`` of the deployment, as far as a browser sees it: an authorize URL, a redirect
    URI the browser context answers itself, and the code exchanged at Ferry's token endpoint."""

    def __init__(self, page: Page, ferry_url: str) -> None:
        self.ferry_url = ferry_url
        self.verifier, self.challenge = pkce_pair()
        self.state, self.nonce = secrets.token_urlsafe(8), secrets.token_urlsafe(8)
        page.context.route(f"{APP_REDIRECT.rsplit('/', 1)[0]}/**", lambda route: route.fulfill(
            body="back at the app", content_type="text/plain"))

    def authorize_url(self, **extra: str) -> str:
        return f"{self.ferry_url}/authorize?" + urlencode({
            "client_id": "test-app", "redirect_uri": APP_REDIRECT, "response_type": "code",
            "scope": "openid email profile", "state": self.state, "nonce": self.nonce,
            "code_challenge": self.challenge, "code_challenge_method": "S256", **extra})

    def code_from(self, url: str) -> str:
        assert url.startswith(f"{APP_REDIRECT}?"), url
        query = parse_qs(urlsplit(url).query)
        assert query["state"] == [self.state]
        return query["code"][0]

    def id_token_claims(self, code: str) -> dict:
        basic = base64.b64encode(f"test-app:{APP_SECRET}".encode()).decode()
        answer = requests.post(f"{self.ferry_url}/token", timeout=10, headers={
            "Authorization": f"Basic {basic}"}, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": APP_REDIRECT,
            "code_verifier": self.verifier})
        assert answer.status_code == 200, answer.text
        keys = KeySet.import_key_set(
            requests.get(f"{self.ferry_url}/.well-known/jwks.json", timeout=10).json())
        token = jwt.decode(answer.json()["id_token"], keys)
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.ferry_url},
            aud={"essential": True, "value": "test-app"},
            nonce={"essential": True, "value": self.nonce},
        ).validate(token.claims)
        return dict(token.claims)
