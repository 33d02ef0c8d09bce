"""Session fixation in Chromium: two browser contexts (two people), one planted cookie.

The attacker opens Ferry's sign-in page and copies its cookie into the victim's browser; the
victim signs in with their password (a first sign-in, migrated from the legacy IdP) and is
offered a passkey. The attacker's browser, still holding the planted cookie, gets a sign-in
page of nobody and nothing of the victim's; the victim goes on to their account.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from models import User, UserSession, db
from tests.browser.test_migration_in_browser import ALICE, OFFER, submit_credentials

pytestmark = pytest.mark.browser


@contextmanager
def person(browser: Browser) -> Iterator[tuple[BrowserContext, Page]]:
    """One person's browser: its own cookie jar."""
    context = browser.new_context(viewport={"width": 1024, "height": 720})
    context.set_default_timeout(5000)
    try:
        yield context, context.new_page()
    finally:
        context.close()


def sessions_of(servers, email: str) -> int:
    with servers.ferry_app.app_context(), db.connection_context():
        return UserSession.select().join(User).where(User.email == email).count()


def test_a_planted_cookie_gets_nothing_once_the_victim_has_signed_in(browser: Browser, servers):
    ferry = servers.ferry.url
    password = servers.legacy.users[ALICE]
    with person(browser) as (attacker_jar, attacker), person(browser) as (victim_jar, victim):
        attacker.goto(f"{ferry}/login")
        expect(attacker.get_by_role("heading", level=1, name="Sign in")).to_be_visible()
        csrf = attacker.locator("input[name=csrf_token]").first.input_value()  # a hidden field
        planted = attacker_jar.cookies(ferry)
        victim_jar.add_cookies(planted)

        victim.goto(f"{ferry}/login")
        submit_credentials(victim, ALICE, password, decline_offer=False)
        expect(victim.get_by_role("heading", level=1, name=OFFER)).to_be_visible()

        # The attacker's browser, with the planted cookie: a sign-in page of nobody.
        attacker.goto(f"{ferry}/login")
        expect(attacker.get_by_role("heading", level=1, name="Sign in")).to_be_visible()
        expect(attacker.get_by_role("button", name="Not now")).to_have_count(0)
        # "Not now" posted straight away, with the planted cookie and its CSRF token: refused.
        attacker_jar.clear_cookies()
        attacker_jar.add_cookies(planted)
        forged = attacker_jar.request.post(f"{ferry}/login", form={
            "csrf_token": csrf, "step": "offer", "skip": "1"}, max_redirects=0)
        assert forged.status == 400
        attacker.goto(f"{ferry}/")
        expect(attacker.get_by_text(f"You are signed in as {ALICE}.")).to_have_count(0)
        assert sessions_of(servers, ALICE) == 0

        # The victim goes on as if nothing had happened.
        victim.get_by_role("button", name="Not now").click()
        expect(victim).to_have_url(f"{ferry}/")
        expect(victim.get_by_text(f"You are signed in as {ALICE}.")).to_be_visible()
        assert sessions_of(servers, ALICE) == 1
