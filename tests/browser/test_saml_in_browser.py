"""SAML redirect migration end to end in headless Chromium, against two real SAML IdPs.

The demo app (an OpenID Connect client) sends the browser to Ferry; the user presses
"Continue with Corp SSO", signs in at the IdP's own page, and the IdP's auto-submitting form
posts the signed response back to Ferry's ACS. The IdPs run on ``http://127.0.0.1:PORT`` and
Ferry on ``http://localhost:PORT``: another *site*, so the POST to the ACS is cross-site and
Chromium does not send Ferry's SameSite=Lax session cookie with it. Ferry resumes the journey
from the RelayState alone, and each test checks that the cookie really was missing.

* :class:`~tests.peers.simplesamlphp.SimpleSamlPhp`: Debian's simplesamlphp under ``php -S``,
  attributes named as AD FS / Entra ID name them; it also checks signed AuthnRequests.
* :class:`~tests.peers.pysaml2_idp.Pysaml2Idp`: pysaml2's IdP, attributes named by OID.

Ferry registers at each IdP the way an operator does it: from its SP metadata URL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import requests
from flask import request as flask_request
from playwright.sync_api import Page, expect

from demo import client_app
from models import AuditEvent, LegacyLink, User, db
from tests.browser.conftest import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, ServedApp
from tests.connectors.saml_corpus import CONNECTOR, saml_deployment, signing_pair
from tests.peers.pysaml2_idp import Pysaml2Idp
from tests.peers.simplesamlphp import SimpleSamlPhp

pytestmark = pytest.mark.browser

REJECTED = "We could not verify the answer from Corp SSO, so we did not use it."
REFUSED = "Signing in with Corp SSO was cancelled or refused."


@pytest.fixture(scope="session")
def simplesamlphp() -> Iterator[SimpleSamlPhp]:
    with SimpleSamlPhp() as idp:
        yield idp


@pytest.fixture(scope="session")
def pysaml2_idp() -> Iterator[Pysaml2Idp]:
    with Pysaml2Idp() as idp:
        yield idp


@dataclass
class SamlServers:
    ferry: ServedApp
    demo: ServedApp
    idp: SimpleSamlPhp | Pysaml2Idp
    seen: list[tuple[str, str, set[str]]] = field(default_factory=list)  # method, path, cookies

    @property
    def session_cookie(self) -> str:
        return self.ferry.app.config["SESSION_COOKIE_NAME"]

    def users(self) -> list[User]:
        with self.ferry.app.app_context(), db.connection_context():
            return list(User.select())

    def links(self) -> list[tuple[str, str]]:
        with self.ferry.app.app_context(), db.connection_context():
            return [(link.connector, link.subject) for link in LegacyLink.select()]

    def audit(self, event: str) -> list[dict]:
        with self.ferry.app.app_context(), db.connection_context():
            return [e.details for e in AuditEvent.select().where(AuditEvent.event == event)]


@pytest.fixture
def saml_servers(make_app, monkeypatch) -> Iterator[Callable[..., SamlServers]]:
    """``saml_servers(idp, **connector_settings)``: Ferry (trusting ``idp``) and the demo app."""
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    started: list[ServedApp] = []

    def build(idp, **settings) -> SamlServers:
        ferry, demo = ServedApp("ferry"), ServedApp("demo-app")
        started.extend([ferry, demo])
        tables = saml_deployment({
            "type": "saml", "display_name": "Corp SSO", "idp_metadata_url": idp.metadata_url,
            "connect_timeout": 2, "read_timeout": 5, **settings,
        })
        tables["apps"][DEMO_CLIENT_ID] = {
            "name": "Demo app", "client_secret": DEMO_CLIENT_SECRET,
            "redirect_uris": [f"{demo.url}/callback"],
            "post_logout_redirect_uris": [f"{demo.url}/"],
        }
        app = make_app(ISSUER=ferry.url, DEPLOYMENT=tables)
        servers = SamlServers(ferry=ferry, demo=demo, idp=idp)

        @app.before_request
        def note_cookies():
            servers.seen.append((flask_request.method, flask_request.path,
                                 set(flask_request.cookies)))

        ferry.serve(app)
        demo.serve(client_app.create_app({
            "FERRY_URL": ferry.url, "DEMO_APP_URL": demo.url, "SECRET_KEY": "demo-test-key",
            "FERRY_CLIENT_ID": DEMO_CLIENT_ID, "FERRY_CLIENT_SECRET": DEMO_CLIENT_SECRET,
        }))
        # The operator's step: register Ferry at the IdP from its SP metadata URL.
        metadata = requests.get(f"{ferry.url}/federate/{CONNECTOR}/metadata", timeout=5)
        assert metadata.status_code == 200
        idp.register_sp(metadata.content)
        return servers

    yield build
    for served in reversed(started):
        served.stop()


# -- what a user does ------------------------------------------------------------------------


def continue_with_corp_sso(page: Page, servers: SamlServers) -> None:
    """From the demo app to Ferry's sign-in page, then "Continue with Corp SSO" to the IdP."""
    page.goto(f"{servers.demo.url}/")
    page.get_by_role("link", name="Sign in").click()
    # /authorize answers Ferry's sign-in page itself (no redirect to /login).
    expect(page).to_have_url(re.compile(rf"^{re.escape(servers.ferry.url)}/authorize\?"))
    page.get_by_role("button", name="Continue with Corp SSO").click()
    expect(page).to_have_url(re.compile("^" + re.escape(servers.idp.url) + "/"))


def expect_signed_in_to_demo_app(page: Page, servers: SamlServers, email: str) -> str:
    expect(page).to_have_url(f"{servers.demo.url}/")
    expect(page.get_by_text("You are signed in.")).to_be_visible()
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="email", exact=True))
    expect(row.get_by_role("cell")).to_have_text(email)
    sub = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="sub", exact=True))
    return sub.get_by_role("cell").inner_text()


def expect_the_acs_got_no_ferry_cookie(servers: SamlServers) -> None:
    """The IdP's POST was cross-site: Chromium left Ferry's SameSite=Lax cookie out of it,
    and sent it again with the top-level GET the ACS redirected to."""
    assert servers.ferry.url.startswith("http://localhost:")
    assert servers.idp.url.startswith("http://127.0.0.1:")  # another site, not just another port
    acs = f"/federate/{CONNECTOR}/callback"
    posts = [i for i, (method, path, _) in enumerate(servers.seen) if (method, path) == ("POST", acs)]
    assert posts, "the IdP never posted to the ACS"
    for index in posts:
        assert servers.session_cookie not in servers.seen[index][2], servers.seen[index]
        method, path, cookies = servers.seen[index + 1]
        assert (method, path) == ("GET", "/login") and servers.session_cookie in cookies


# -- simplesamlphp ---------------------------------------------------------------------------


def sign_in_at_simplesamlphp(page: Page, email: str, password: str) -> None:
    page.get_by_label("Username").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Login").click()


def test_simplesamlphp_first_sign_in_migrates_the_user(page, saml_servers, simplesamlphp,
                                                       screenshot):
    servers = saml_servers(simplesamlphp)
    continue_with_corp_sso(page, servers)
    screenshot("simplesamlphp-login")
    sign_in_at_simplesamlphp(page, "alice@example.com", simplesamlphp.users["alice@example.com"])
    sub = expect_signed_in_to_demo_app(page, servers, "alice@example.com")
    screenshot("demo-app-signed-in")
    expect_the_acs_got_no_ferry_cookie(servers)

    [user] = servers.users()
    assert user.id == sub
    # Claim URIs (AD FS / Entra ID names) reached the default mapping.
    assert (user.email, user.given_name, user.family_name, user.name) == (
        "alice@example.com", "Alice", "Liddell", "Alice Liddell")
    [(connector, subject)] = servers.links()
    assert connector == CONNECTOR and re.fullmatch(r"[0-9a-f]{40}", subject)  # persistent NameID
    assert servers.audit("federation.rejected") == []


def test_simplesamlphp_checks_the_password_and_ferrys_signed_authn_request(
        page, saml_servers, simplesamlphp, screenshot):
    key, cert = signing_pair("Ferry SP")
    servers = saml_servers(simplesamlphp, sp_key=key, sp_cert=cert, sign_authn_requests=True)
    continue_with_corp_sso(page, servers)
    sign_in_at_simplesamlphp(page, "bob@example.com", "not-" + simplesamlphp.users["bob@example.com"])
    expect(page.get_by_text("Incorrect username or password")).to_be_visible()
    screenshot("simplesamlphp-wrong-password")
    assert servers.users() == []
    assert not [path for _method, path, _cookies in servers.seen if path.endswith("/callback")]

    sign_in_at_simplesamlphp(page, "bob@example.com", simplesamlphp.users["bob@example.com"])
    expect_signed_in_to_demo_app(page, servers, "bob@example.com")
    assert [u.email for u in servers.users()] == ["bob@example.com"]
    # simplesamlphp required the AuthnRequest signature (validate.authnrequest, registered from
    # the AuthnRequestsSigned flag and certificate in Ferry's metadata) and verified it.
    assert "validate.authnrequest' => true" in (
        simplesamlphp.config_dir / "metadata" / "saml20-sp-remote.php").read_text()
    assert "Validation with key #0 succeeded." in simplesamlphp.log(tail=None)


# -- pysaml2 ---------------------------------------------------------------------------------


def sign_in_at_pysaml2(page: Page, email: str, password: str) -> None:
    expect(page.get_by_role("heading", name="pysaml2 test IdP")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_pysaml2_first_sign_in_migrates_then_links(page, saml_servers, pysaml2_idp, screenshot):
    servers = saml_servers(pysaml2_idp)
    continue_with_corp_sso(page, servers)
    screenshot("pysaml2-login")
    sign_in_at_pysaml2(page, "carol@example.com", "wrong")
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password")
    sign_in_at_pysaml2(page, "carol@example.com", pysaml2_idp.users["carol@example.com"])
    sub = expect_signed_in_to_demo_app(page, servers, "carol@example.com")
    expect_the_acs_got_no_ferry_cookie(servers)

    [user] = servers.users()
    # OIDs in the uri name format reached the default mapping.
    assert (user.id, user.given_name, user.family_name, user.name) == (
        sub, "Carol", "Lewis", "Carol Lewis")
    links = servers.links()

    # Signed out and back: the same legacy identity finds the same user.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are not signed in.")).to_be_visible()
    continue_with_corp_sso(page, servers)
    sign_in_at_pysaml2(page, "carol@example.com", pysaml2_idp.users["carol@example.com"])
    assert expect_signed_in_to_demo_app(page, servers, "carol@example.com") == sub
    assert servers.links() == links and len(servers.users()) == 1


def test_pysaml2_cancel_is_a_refusal(page, saml_servers, pysaml2_idp, screenshot):
    servers = saml_servers(pysaml2_idp)
    continue_with_corp_sso(page, servers)
    page.get_by_role("button", name="Cancel").click()
    expect(page).to_have_url(f"{servers.ferry.url}/login")
    expect(page.get_by_text(REFUSED)).to_be_visible()
    screenshot("ferry-after-cancel")
    assert servers.audit("federation.refused") and servers.users() == []


def test_pysaml2_sha1_signatures_are_refused(page, saml_servers, pysaml2_idp, screenshot):
    servers = saml_servers(pysaml2_idp)
    pysaml2_idp.signing_algorithm = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
    pysaml2_idp.digest_algorithm = "http://www.w3.org/2000/09/xmldsig#sha1"
    try:
        continue_with_corp_sso(page, servers)
        sign_in_at_pysaml2(page, "alice@example.com", pysaml2_idp.users["alice@example.com"])
        expect(page).to_have_url(f"{servers.ferry.url}/login")
        expect(page.get_by_text(REJECTED)).to_be_visible()
        screenshot("ferry-rejected-sha1")
    finally:
        pysaml2_idp.signing_algorithm = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
        pysaml2_idp.digest_algorithm = "http://www.w3.org/2001/04/xmlenc#sha256"
    [rejection] = servers.audit("federation.rejected")
    assert rejection["reason"].startswith("deprecated_")
    assert servers.users() == []
