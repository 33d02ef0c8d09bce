"""``link_account``: the password of the existing account is admitted at the password throttle
before it is checked, so parallel guesses can never get more checks than the budget allows.

The incoming identity comes from the scripted OpenID Provider (``tests/peers/oidc_scripted.py``);
its e-mail address belongs to a local user, so every browser lands on the link page.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from models import AuditEvent, LegacyLink, db
from tests.accounts import create_local_user
from tests.connectors.oidc.flow import Browser, ferry, scripted_connector
from tests.peers.oidc_scripted import ScriptedOidcProvider

LIMIT, PARALLEL = 5, 20
RIGHT = "alice's own password"
LINK_PAGE = "You already have an account with alice@example.com"
WRONG = "That password is not right."
TOO_MANY = "Too many attempts"


@pytest.fixture
def scripted() -> Iterator[ScriptedOidcProvider]:
    with ScriptedOidcProvider() as idp:
        yield idp


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def at_link_page(app, idp: ScriptedOidcProvider) -> Browser:
    browser = Browser(app)
    page = browser.back_and_on(idp.authorize(browser.to_provider()))
    assert page.status_code == 200 and LINK_PAGE in text(page), text(page)[:500]
    return browser


def test_parallel_wrong_passwords_count_exactly_to_the_limit(make_app, scripted):
    app = ferry(make_app, scripted_connector(scripted),
                FAILED_SIGNINS_PER_IDENTIFIER=f"{LIMIT} per 15 minutes")
    create_local_user(app, "alice@example.com", RIGHT)
    browsers = [at_link_page(app, scripted) for _ in range(PARALLEL)]
    start = threading.Barrier(PARALLEL)

    def guess(browser: Browser) -> str:
        start.wait()
        response = browser.walker.post(password="not alice's password")
        if response.status_code == 303:  # throttled goes back to the sign-in page
            response = browser.client.get(response.headers["Location"])
        return text(response)

    with ThreadPoolExecutor(PARALLEL) as pool:
        answers = list(pool.map(guess, browsers))

    assert sum(WRONG in page for page in answers) == LIMIT
    assert sum(TOO_MANY in page for page in answers) == PARALLEL - LIMIT
    with app.app_context(), db.connection_context():
        assert AuditEvent.select().where(AuditEvent.event == "signin.throttled").count() \
            == PARALLEL - LIMIT
    # The budget is spent: even the right password is refused now, and nothing is linked.
    late = at_link_page(app, scripted).walker.post(password=RIGHT)
    if late.status_code == 303:
        late = browsers[0].client.get(late.headers["Location"])
    assert TOO_MANY in text(late)
    with app.app_context(), db.connection_context():
        assert LegacyLink.select().count() == 0


def test_a_right_password_links_and_is_not_counted(make_app, scripted):
    app = ferry(make_app, scripted_connector(scripted), FAILED_SIGNINS_PER_IDENTIFIER="2 per hour")
    local_id = create_local_user(app, "alice@example.com", RIGHT)
    for _ in range(3):  # right passwords never spend the budget
        browser = at_link_page(app, scripted)
        done = browser.walker.post(password=RIGHT)
        assert browser.app_id_token(done)["sub"] == local_id
        with app.app_context(), db.connection_context():
            LegacyLink.delete().execute()  # so the next identity conflicts again
    wrong = at_link_page(app, scripted).walker.post(password="not it")
    assert WRONG in text(wrong)
