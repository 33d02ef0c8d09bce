"""The one-time-code budget: limited per identifier, per IP and per journey run, and a send storm
against one address never keeps its owner from signing in.

A browser that signed in as an address before carries a signed "known device" cookie and sends
codes to that address from a budget of its own (``security/known_devices.py``,
``security/throttle.py``); every other browser shares the address's budget, and its IP's and its
run's. Mail goes through a real SMTP server (aiosmtpd).
"""

from __future__ import annotations

import html
import re

import pytest

from security.known_devices import COOKIE
from tests.accounts import create_local_user
from tests.authenticators.mail import MailServer
from tests.conftest import APP_REDIRECT, SignIn, deployment

ALICE, BOB = "alice@example.com", "bob@example.com"
SENT = "If an account exists for"
THROTTLED = "Too many attempts. Try again in"


@pytest.fixture
def mail():
    with MailServer() as server:
        yield server


@pytest.fixture
def code_app(make_app, mail):
    tables = deployment()
    tables["apps"]["test-app"]["journey"] = "sign-in-with-code"
    app = make_app(DEPLOYMENT=tables, OTP_SENDS_PER_IP="20 per hour",
                   OTP_SENDS_PER_SESSION="10 per hour", **mail.config())
    for email in (ALICE, BOB):
        create_local_user(app, email, "unused password 1")
    return app


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def browser(app, ip: str = "127.0.0.1") -> SignIn:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return SignIn(client)


def ask(walker: SignIn, identifier: str):
    """authorize -> the e-mail page -> "Send me a code"."""
    walker.start()
    response = walker.post(identifier=identifier)
    assert response.status_code == 200, text(response)[:500]
    return response


def sign_in_with_code(walker: SignIn, mail: MailServer, identifier: str):
    response = ask(walker, identifier)
    assert SENT in text(response), text(response)[:800]
    done = walker.post(code=mail.last_code(identifier))
    assert done.status_code == 303 and done.headers["Location"].startswith(APP_REDIRECT)
    return done


def days_later(walker: SignIn) -> None:
    """The Ferry session has long ended; the browser keeps its other cookies."""
    walker.client.delete_cookie("ferry_session")


def mails_to(mail: MailServer, address: str) -> int:
    return sum(1 for message in mail.received if message["X-Envelope-To"] == address)


def test_a_send_storm_cannot_keep_the_owner_out(code_app, mail):
    alices_laptop = browser(code_app, "192.0.2.10")
    sign_in_with_code(alices_laptop, mail, ALICE)  # now a known device
    assert alices_laptop.client.get_cookie(COOKIE) is not None
    days_later(alices_laptop)

    answers = [text(ask(browser(code_app, f"10.{n // 250}.{n % 250}.1"), ALICE))
               for n in range(100)]  # 100 browsers, 100 IPs: someone floods alice's mailbox
    # The shared budget is 5 an hour; alice's first code, before her laptop was known, was one.
    assert sum(SENT in page for page in answers) == 4
    assert sum(THROTTLED in page for page in answers) == 96
    assert mails_to(mail, ALICE) == 5

    # Alice, on her laptop, still gets a code and signs in.
    sign_in_with_code(alices_laptop, mail, ALICE)
    assert mails_to(mail, ALICE) == 6
    days_later(alices_laptop)
    # Her laptop's budget is its own (5 an hour, one spent just now), and limited too.
    for _ in range(4):
        assert SENT in text(ask(alices_laptop, ALICE))
    assert THROTTLED in text(ask(alices_laptop, ALICE))
    # A browser of hers that never signed in shares the spent budget: nothing is sent.
    assert THROTTLED in text(ask(browser(code_app, "192.0.2.10"), ALICE))
    # Bob is untouched by the storm against alice.
    assert SENT in text(ask(browser(code_app, "10.0.0.1"), BOB))


def test_a_known_device_is_known_for_its_own_addresses_only(code_app, mail):
    laptop = browser(code_app, "192.0.2.10")
    sign_in_with_code(laptop, mail, BOB)  # known for bob, not for alice
    days_later(laptop)
    for n in range(5):
        ask(browser(code_app, f"10.0.1.{n + 1}"), ALICE)
    assert THROTTLED in text(ask(laptop, ALICE))
    assert SENT in text(ask(laptop, BOB))


def test_a_forged_or_altered_device_cookie_counts_for_nothing(code_app, mail):
    laptop = browser(code_app, "192.0.2.10")
    sign_in_with_code(laptop, mail, ALICE)
    days_later(laptop)
    cookie = laptop.client.get_cookie(COOKIE)
    assert ALICE not in cookie.value and "alice" not in cookie.value  # keyed digests only
    assert cookie.http_only and cookie.same_site == "Lax" and cookie.path == "/"
    for n in range(5):
        ask(browser(code_app, f"10.0.2.{n + 1}"), ALICE)

    forger = browser(code_app, "10.0.3.1")
    payload, _sep, signature = cookie.value.rpartition(".")
    forger.client.set_cookie(COOKIE, payload + "." + signature[::-1])
    assert THROTTLED in text(ask(forger, ALICE))
    copied = browser(code_app, "10.0.3.2")
    copied.client.set_cookie(COOKIE, re.sub(r"^.", "x", cookie.value))
    assert THROTTLED in text(ask(copied, ALICE))


def test_sends_are_limited_per_ip_whatever_the_address(make_app, mail):
    tables = deployment()
    tables["apps"]["test-app"]["journey"] = "sign-in-with-code"
    app = make_app(DEPLOYMENT=tables, OTP_SENDS_PER_IP="4 per hour", **mail.config())
    answers = [text(ask(browser(app, "203.0.113.7"), f"user{n}@example.com")) for n in range(6)]
    assert [SENT in page for page in answers] == [True] * 4 + [False] * 2
    assert THROTTLED in answers[-1]
    assert SENT in text(ask(browser(app, "203.0.113.8"), "user9@example.com"))  # another IP


def test_sends_are_limited_per_journey_run(make_app, mail):
    tables = deployment()
    tables["apps"]["test-app"]["journey"] = "sign-in-with-code"
    app = make_app(DEPLOYMENT=tables, OTP_SENDS_PER_SESSION="3 per hour", **mail.config())
    create_local_user(app, ALICE, "unused password 1")
    walker = browser(app)
    ask(walker, "user0@example.com")
    for _ in range(2):
        assert SENT in text(walker.post(resend="1"))  # resends count in the run's budget
    response = walker.post(resend="1")
    assert THROTTLED in text(response)
    assert SENT in text(ask(browser(app), ALICE))  # a new run has a budget of its own


def test_a_failed_delivery_spends_no_budget(make_app):
    server = MailServer()  # configured, not yet started
    tables = deployment()
    tables["apps"]["test-app"]["journey"] = "sign-in-with-code"
    app = make_app(DEPLOYMENT=tables, OTP_SENDS_PER_SESSION="2 per hour",
                   OTP_SENDS_PER_IP="2 per hour", **server.config())
    create_local_user(app, ALICE, "unused password 1")
    walker = browser(app)
    response = ask(walker, ALICE)
    for _ in range(4):
        assert "We could not send the code" in text(response)
        response = walker.post()  # "Try again"
    with server:
        assert SENT in text(walker.post())
        assert walker.post(code=server.last_code(ALICE)).status_code == 303


def test_a_password_sign_in_makes_the_browser_a_known_device(make_app, mail):
    app = make_app(**mail.config())  # the sign-in journey: password, or "E-mail me a code"
    create_local_user(app, ALICE, "right password 1")
    laptop = browser(app, "192.0.2.10")
    assert laptop.sign_in(ALICE, "right password 1").status_code == 303
    days_later(laptop)
    for n in range(5):
        stranger = browser(app, f"10.0.4.{n + 1}")
        stranger.start()
        stranger.post(identifier=ALICE, password="", alternative="code")
    laptop.start()
    response = laptop.post(identifier=ALICE, password="", alternative="code")
    assert SENT in text(response)
    assert mails_to(mail, ALICE) == 6
