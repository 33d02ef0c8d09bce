"""Ferry as the OpenID Provider of a strict, stock relying party, in a real browser (issue 10).

The app is npm ``openid-client`` 6 (:mod:`tests.peers.openid_client_rp`), an OpenID-certified RP
library used the way its documentation shows: discovery, PKCE S256 + state + nonce, RFC 9207
``iss`` checks, ID token and userinfo validation, refresh, RP-initiated logout. Headless Chromium
signs in to it through Ferry's own pages. Each test holds Ferry to the specifications (OpenID
Connect Core 1.0, RFC 6749, 7636, 9207, 7523, RP-Initiated Logout 1.0), not to what it does today.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, Response, expect

from tests.accounts import create_local_user
from tests.browser.conftest import ServedApp
from tests.conftest import deployment
from tests.peers.openid_client_rp import OpenIdClientRp

pytestmark = pytest.mark.browser

CLIENT_ID = "openid-client-rp"
CLIENT_SECRET = "openid-client-rp-secret-0123456789"
EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"
#: The heading of the passkey (or PIN) offer that follows a password sign-in.
OFFER = "Sign in faster next time"
OFFLINE = "openid email offline_access"
REFRESHING = {"grant_types": ["authorization_code", "refresh_token"]}


@dataclass
class RpServers:
    ferry: ServedApp
    rp: OpenIdClientRp
    user_id: str


@pytest.fixture
def rp_servers(make_app, monkeypatch) -> Iterator[Callable[..., RpServers]]:
    """``rp_servers(auth_method, **app_settings)``: Ferry with the RP as an app, and one user.

    The RP starts first (it discovers Ferry at the first sign-in), so that Ferry's app entry can
    name its redirect URI; ``app_settings`` add to or override that entry.
    """
    # The test reads the RP's /state with requests: no proxy may intervene.
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    started: list[tuple[ServedApp, OpenIdClientRp]] = []

    def start(auth_method: str = "client_secret_basic", **app_settings) -> RpServers:
        ferry = ServedApp("ferry")
        secret = CLIENT_SECRET if auth_method.startswith("client_secret") else None
        rp = OpenIdClientRp(ferry.url, CLIENT_ID, auth_method=auth_method, client_secret=secret)
        started.append((ferry, rp))
        rp.start()
        tables = deployment()
        tables["apps"][CLIENT_ID] = rp.app_entry(**app_settings)
        ferry.serve(make_app(ISSUER=ferry.url, DEPLOYMENT=tables))
        user_id = create_local_user(ferry.app, EMAIL, PASSWORD, email_verified=True)
        return RpServers(ferry=ferry, rp=rp, user_id=user_id)

    yield start
    for ferry, rp in reversed(started):
        rp.close()
        ferry.stop()


# -- what a user does ----------------------------------------------------------------------------


def sign_in_at_ferry(page: Page, servers: RpServers) -> None:
    """On Ferry's sign-in page (``/authorize``'s own answer): e-mail, password, "Sign in", and
    "Not now" to a passkey offer."""
    expect(page).to_have_url(re.compile(rf"^{re.escape(servers.ferry.url)}/authorize\?"))
    expect(page.get_by_role("heading", level=1, name="Sign in")).to_be_visible()
    page.get_by_label("E-mail address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in", exact=True).click()
    if page.get_by_role("heading", level=1, name=OFFER).count():
        page.get_by_role("button", name="Not now").click()


def start_at_rp(page: Page, servers: RpServers, **parameters) -> None:
    """The RP's /login (``scope`` defaults to "openid email"), which redirects to Ferry."""
    page.goto(servers.rp.login_url(scope=parameters.pop("scope", "openid email"), **parameters))
    if page.url.startswith(f"{servers.rp.url}/login") and page.locator("#error").count():
        pytest.fail(f"the RP could not start a sign-in: {page.locator('#error').inner_text()}")


def signed_in_claims(page: Page, servers: RpServers) -> tuple[dict, dict]:
    """On the RP's callback page, after it verified everything: ID token claims and userinfo."""
    expect(page).to_have_url(re.compile(rf"^{re.escape(servers.rp.redirect_uri)}\?"))
    expect(page.locator("#claims, #error").first).to_be_visible()
    if page.locator("#error").count():
        pytest.fail(f"the RP refused Ferry's answer: {page.locator('#error').inner_text()}")
    claims = json.loads(page.locator("#claims").inner_text())
    userinfo = json.loads(page.locator("#userinfo").inner_text())
    return claims, userinfo


def rp_error(page: Page, servers: RpServers) -> dict:
    """The error the RP shows on its page (``error``, ``error_description``), from /state."""
    expect(page.locator("#error")).to_be_visible()
    error = servers.rp.state()["error"]
    assert error is not None
    expect(page.locator("#error")).to_contain_text(error["error"])
    return error


def sign_in_through_rp(page: Page, servers: RpServers, **parameters) -> tuple[dict, dict]:
    start_at_rp(page, servers, **parameters)
    sign_in_at_ferry(page, servers)
    return signed_in_claims(page, servers)


def ferry_pages(page: Page, servers: RpServers) -> list[str]:
    """URLs of the pages Ferry shows in this tab from now on (navigations it answers with 200)."""
    shown: list[str] = []

    def seen(response: Response) -> None:
        if (response.request.is_navigation_request() and response.status == 200
                and response.url.startswith(f"{servers.ferry.url}/")):
            shown.append(response.url)

    page.on("response", seen)
    return shown


# -- the code flow, once for each way an app authenticates at the token endpoint ----------------


@pytest.mark.parametrize("auth_method", [
    "client_secret_basic", "client_secret_post", "private_key_jwt", "none",
])
def test_code_flow_signs_the_user_in_to_a_certified_rp(page: Page, rp_servers, auth_method):
    servers = rp_servers(auth_method)
    before = int(time.time())

    claims, userinfo = sign_in_through_rp(page, servers)

    # openid-client checked the signature, iss, aud, exp, iat, nonce, state, PKCE and RFC 9207's
    # iss parameter before showing anything; what it shows must describe this sign-in.
    assert claims["iss"] == servers.ferry.url
    assert claims["sub"] == servers.user_id
    assert claims["aud"] == CLIENT_ID or CLIENT_ID in claims["aud"]
    # Core 2: auth_time is an integer time of the authentication just made ...
    assert isinstance(claims["auth_time"], int)
    assert before - 1 <= claims["auth_time"] <= int(time.time()) + 1
    # ... amr (RFC 8176) says how: a password; sid names Ferry's session (Front-/Back-Channel).
    assert "pwd" in claims["amr"]
    assert isinstance(claims["sid"], str) and claims["sid"]
    # Core 5.3.2: userinfo is about the same subject, with the e-mail scope's claims.
    assert userinfo["sub"] == servers.user_id
    assert userinfo["email"] == EMAIL
    assert userinfo["email_verified"] is True
    if "email" in claims:
        assert claims["email"] == EMAIL
    expect(page.locator("#who")).to_have_text(f"signed in as {claims.get('email', servers.user_id)}")

    state = servers.rp.state()
    assert state["error"] is None
    assert state["claims"] == claims
    # Neither offline_access (Core 11) nor the refresh_token grant (RFC 7591 grant_types): none.
    assert state["refresh_token"] is None


# -- offline access: consent, refresh, rotation, reuse detection ---------------------------------


def test_offline_access_asks_consent_then_refresh_tokens_rotate_and_reuse_revokes_the_family(
        page: Page, rp_servers, screenshot):
    servers = rp_servers(**REFRESHING)

    # Core 11: offline_access is honoured only with prompt=consent, and the OP must ask.
    start_at_rp(page, servers, scope=OFFLINE, prompt="consent")
    sign_in_at_ferry(page, servers)
    allow = page.get_by_role("button", name="Allow")
    expect(allow).to_be_visible()
    expect(page.get_by_role("button", name="Deny")).to_be_visible()
    screenshot("consent")
    allow.click()
    claims, _userinfo = signed_in_claims(page, servers)
    expect(page.locator("#refresh-token")).to_have_text("a refresh token was issued")
    first = servers.rp.state()
    original = first["refresh_token"]
    assert original

    # RFC 6749 6 / RFC 9700 4.14.2: a refresh answers new tokens, and a new refresh token.
    page.goto(servers.rp.refresh_url())
    expect(page.locator("#error")).to_have_count(0)
    expect(page.locator("#rotated")).to_have_text("a new refresh token was returned")
    refreshed = servers.rp.state()
    assert refreshed["refresh"]["new_refresh_token"] is True
    newest = refreshed["refresh_token"]
    assert newest and newest != original
    assert refreshed["access_token"] != first["access_token"]
    if refreshed["refresh"]["id_token_returned"]:
        # Core 12.2: the same iss, sub and aud; auth_time of the original authentication.
        again = refreshed["claims"]
        assert (again["iss"], again["sub"], again["auth_time"]) == (
            claims["iss"], claims["sub"], claims["auth_time"])
        assert again["aud"] == claims["aud"]

    # The old one again: refused, and (reuse of a rotated token) the whole family is revoked.
    page.goto(servers.rp.refresh_url(original))
    assert rp_error(page, servers)["error"] == "invalid_grant"
    page.goto(servers.rp.refresh_url(newest))
    assert rp_error(page, servers)["error"] == "invalid_grant"


def test_denying_consent_answers_access_denied(page: Page, rp_servers, screenshot):
    servers = rp_servers(**REFRESHING)

    start_at_rp(page, servers, scope=OFFLINE, prompt="consent")
    sign_in_at_ferry(page, servers)
    page.get_by_role("button", name="Deny").click()

    # RFC 6749 4.1.2.1, with RFC 9207's iss on the error too (the RP refuses it otherwise).
    expect(page).to_have_url(re.compile(rf"^{re.escape(servers.rp.redirect_uri)}\?"))
    error = rp_error(page, servers)
    screenshot("denied")
    assert error["error"] == "access_denied", error
    state = servers.rp.state()
    assert state["access_token"] is None and state["refresh_token"] is None


# -- prompt ---------------------------------------------------------------------------------------


def test_prompt_none_with_a_session_comes_back_silently(page: Page, rp_servers):
    servers = rp_servers()
    first, _userinfo = sign_in_through_rp(page, servers)
    shown = ferry_pages(page, servers)

    start_at_rp(page, servers, prompt="none")

    # Core 3.1.2.1: no page at all, straight back with a code for the same session.
    again, userinfo = signed_in_claims(page, servers)
    assert shown == []
    assert again["sub"] == first["sub"] == userinfo["sub"]
    assert again["sid"] == first["sid"]
    assert again["auth_time"] == first["auth_time"]  # nobody authenticated again
    assert again["nonce"] != first["nonce"]


def test_prompt_none_in_a_fresh_browser_answers_login_required(
        page: Page, browser: Browser, rp_servers):
    servers = rp_servers()
    sign_in_through_rp(page, servers)  # the user has a Ferry session, in another browser

    context = browser.new_context()
    context.set_default_timeout(5000)
    try:
        fresh = context.new_page()
        shown = ferry_pages(fresh, servers)
        start_at_rp(fresh, servers, prompt="none")
        expect(fresh).to_have_url(re.compile(rf"^{re.escape(servers.rp.redirect_uri)}\?"))
        error = rp_error(fresh, servers)
        assert error["error"] == "login_required", error
        assert shown == []
    finally:
        context.close()


@pytest.mark.parametrize("parameters", [{"prompt": "login"}, {"max_age": "0"}],
                         ids=["prompt-login", "max-age-0"])
def test_prompt_login_asks_for_the_password_again(page: Page, rp_servers, parameters):
    servers = rp_servers()
    first, _userinfo = sign_in_through_rp(page, servers)
    shown = ferry_pages(page, servers)

    start_at_rp(page, servers, **parameters)

    # Core 3.1.2.1: the OP must prompt for reauthentication, despite the session (max_age=0 is
    # equivalent to prompt=login; with max_age the RP also checks auth_time against it).
    sign_in_at_ferry(page, servers)
    again, _userinfo = signed_in_claims(page, servers)
    assert any(url.startswith(f"{servers.ferry.url}/authorize?") for url in shown), shown
    assert again["sub"] == first["sub"]
    assert again["auth_time"] >= first["auth_time"]
    assert "pwd" in again["amr"]


# -- logout ---------------------------------------------------------------------------------------


def test_logout_through_the_rp_ends_the_ferry_session_and_comes_back(page: Page, rp_servers):
    servers = rp_servers()
    claims, _userinfo = sign_in_through_rp(page, servers)
    page.goto(f"{servers.rp.url}/")
    expect(page.locator("#who")).to_have_text(f"signed in as {claims.get('email', servers.user_id)}")

    # A valid id_token_hint: no question asked, straight back to the registered URI.
    page.goto(f"{servers.rp.url}/logout")
    expect(page).to_have_url(servers.rp.post_logout_redirect_uri)
    expect(page.locator("#who")).to_have_text("signed out")
    assert servers.rp.state()["logged_out"] is True

    # RP-Initiated Logout 1.0, 2: the OP logged the user out, so no silent sign-in any more.
    start_at_rp(page, servers, prompt="none")
    assert rp_error(page, servers)["error"] == "login_required"
