"""The demo as ``make run`` wires it: Ferry built from ``demo/ferry.toml.template``, the demo legacy
IDP on a loopback port, and the demo's SMTP sink receiving Ferry's mail.

A user who has not migrated signs in with a one-time code (Ferry finds her address through the
legacy IDP's lookup and mails the code to the sink; the demo app's mailbox page shows it), the
ID token carries ``email_verified`` from the legacy IDP, and her later password sign-in is the
same user.
"""

from __future__ import annotations

import html
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from demo import client_app, legacy_idp
from demo.mail_sink import Mailbox, SmtpSink
from demo.run import TEMPLATE, Ports, render_config
from models import LegacyLink, User, db
from tests.accounts import count_users
from tests.authenticators.mail import free_port
from tests.conftest import SignIn
from tests.journeys.selfservice import NEW_PASSWORD, start, text
from tests.peers.loopback import LoopbackServer

ALICE, ALICE_PASSWORD = "alice@example.com", "wonderland-1865"
BOB, BOB_PASSWORD = "bob@example.com", "builder-1999"
CAROL, CAROL_PASSWORD = "carol@example.com", "carol-singer-42"


class DemoLegacyIdp(LoopbackServer):
    """demo/legacy_idp.py served on a free loopback port, as demo/run.py serves it."""

    thread_name = "demo-legacy-idp"

    def __init__(self) -> None:
        self._init_loopback()
        self.app = legacy_idp.create_app()


@dataclass
class Demo:
    ports: Ports
    config: Path
    mailbox: Mailbox
    idp: DemoLegacyIdp


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    folder = tmp_path / "demo"
    box = Mailbox(folder / "mailbox")
    with DemoLegacyIdp() as idp, SmtpSink(box, free_port()) as sink:
        ports = Ports(ferry=free_port(), idp=idp.port, app=free_port(), smtp=sink.port)
        config = folder / "ferry.toml"
        config.write_text(render_config(TEMPLATE.read_text(encoding="utf-8"), ports), encoding="utf-8")
        yield Demo(ports, config, box, idp)


@pytest.fixture
def ferry(make_app, demo: Demo):
    # DEPLOYMENT=None: the connectors, journeys and apps come from the demo's file.
    return make_app(CONFIG_FILE=str(demo.config), DEPLOYMENT=None)


def browser(ferry, demo: Demo) -> SignIn:
    return SignIn(ferry.test_client(), client_id="demo-app",
                  redirect_uri=f"http://localhost:{demo.ports.app}/callback",
                  client_secret="demo-app-secret-1865")


def id_token_claims(walker: SignIn, response) -> dict:
    tokens = walker.exchange(walker.code_from(response))
    assert tokens.status_code == 200, tokens.get_data(as_text=True)
    return walker.id_token_claims(tokens.get_json()["id_token"])


def codes_for(demo: Demo, address: str) -> list[str]:
    """The codes mailed to ``address``, newest first."""
    return [letter.code for letter in demo.mailbox.letters()
            if address in letter.recipients and letter.code]


def legacy_user(demo: Demo, address: str):
    return demo.idp.app.extensions["demo_legacy_idp"].users[address]


def test_the_template_wires_the_lookup_the_mail_and_email_verified(demo: Demo) -> None:
    config = tomllib.loads(demo.config.read_text())
    legacy = config["connectors"]["demo-legacy"]
    assert legacy["lookup_url"] == f"http://localhost:{demo.ports.idp}/api/users"
    assert legacy["mapping"]["email_verified"] == "email_verified|bool"
    steps = {(journey, step): table for journey, definition in config["journeys"].items()
             for step, table in definition["steps"].items()}
    lookup = {"lookup_connector": "demo-legacy"}
    assert steps == {("sign-in", "send-code"): lookup, ("sign-in-with-code", "send"): lookup,
                     ("forgot-password", "send"): lookup, ("sign-up", "check"): lookup}
    assert (config["ferry"]["otp_sender"], config["ferry"]["smtp_port"]) == ("smtp", demo.ports.smtp)


def test_a_user_who_never_migrated_signs_in_with_a_mailed_code(ferry, demo: Demo) -> None:
    walker = browser(ferry, demo)
    walker.start()

    page = walker.post(identifier=CAROL, alternative="code")

    assert page.status_code == 200
    assert "If an account exists for carol@example.com" in html.unescape(page.get_data(as_text=True))
    [code] = codes_for(demo, CAROL)
    claims = id_token_claims(walker, walker.post(code=code))
    assert (claims["email"], claims["email_verified"]) == (CAROL, True)
    assert claims["given_name"] == "Carol"
    subject = claims["sub"]
    with ferry.app_context(), db.connection_context():
        carol = User.get(User.email == CAROL)
        assert LegacyLink.get(LegacyLink.user == carol).subject == "legacy-1003"
    legacy_carol = legacy_user(demo, CAROL)
    assert (legacy_carol.lookups, legacy_carol.password_checks) == (1, 0)

    # The demo app's mailbox page shows the code that was used.
    app = client_app.create_app({"FERRY_DISCOVERY": {"issuer": "x"}, "DEMO_MAILBOX": str(demo.mailbox.path)})
    mailbox = app.test_client().get("/mailbox").get_data(as_text=True)
    assert re.search(rf"<td>{CAROL}</td>\s*<td>[^<]*Your sign-in code", mailbox)
    assert f'<mark class="demo-code">{code}</mark>' in mailbox

    # Later, her legacy password: the same legacy subject, so the same local user.
    again = browser(ferry, demo)
    claims = id_token_claims(again, again.sign_in(CAROL, CAROL_PASSWORD))
    assert claims["sub"] == subject
    assert legacy_carol.password_checks == 1
    assert count_users(ferry) == 1


def test_the_id_token_carries_email_verified_from_the_legacy_idp(ferry, demo: Demo) -> None:
    walker = browser(ferry, demo)
    claims = id_token_claims(walker, walker.sign_in(ALICE, ALICE_PASSWORD))
    assert (claims["email"], claims["email_verified"]) == (ALICE, True)


def test_an_unknown_address_gets_no_mail_and_the_same_page(ferry, demo: Demo) -> None:
    walker = browser(ferry, demo)
    walker.start()
    page = walker.post(identifier="mallory@example.com", alternative="code")
    assert "If an account exists for mallory@example.com" in html.unescape(page.get_data(as_text=True))
    assert codes_for(demo, "mallory@example.com") == []


def test_a_user_who_never_migrated_resets_the_password_forgotten_at_the_legacy_idp(ferry, demo):
    walker = start(ferry, "forgot-password", browser(ferry, demo))
    walker.post(identifier=BOB)
    [code] = codes_for(demo, BOB)
    page = walker.post(code=code)
    assert "Set a new password" in text(page), text(page)[:500]

    claims = id_token_claims(walker, walker.post(password=NEW_PASSWORD, confirm=NEW_PASSWORD))

    assert (claims["email"], claims["email_verified"]) == (BOB, True)
    assert (legacy_user(demo, BOB).lookups, legacy_user(demo, BOB).password_checks) == (1, 0)
    again = browser(ferry, demo)
    assert id_token_claims(again, again.sign_in(BOB, NEW_PASSWORD))["sub"] == claims["sub"]
    refused = browser(ferry, demo).sign_in(BOB, BOB_PASSWORD)  # the legacy one no longer works
    assert refused.status_code == 200 and "don't match" in text(refused)
    assert legacy_user(demo, BOB).password_checks == 0  # Ferry did not even ask


def test_signing_up_with_an_address_of_the_legacy_idp_is_sent_to_sign_in(ferry, demo):
    walker = browser(ferry, demo)
    walker.start(prompt="create")
    walker.post(identifier=ALICE)
    [code] = codes_for(demo, ALICE)  # the address is proved first, like any other

    page = walker.post(code=code)

    assert "You already have an account" in text(page)
    assert legacy_user(demo, ALICE).lookups == 1
    assert count_users(ferry) == 0
