"""The demo's mailbox: the SMTP sink ``make run`` starts, and the demo app's "Demo mailbox" page.

Mail goes in over real SMTP on loopback (:mod:`smtplib`, as Ferry's ``SmtpSender`` sends it) and
comes out on the console and the page, newest first, codes highlighted.
"""

from __future__ import annotations

import logging
import re
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from demo import client_app
from demo import run as launcher
from demo.mail_sink import Letter, Mailbox, SmtpSink, find_code
from demo.run import DemoError
from tests.authenticators.mail import free_port

DISCOVERY = {"issuer": "http://ferry.test", "authorization_endpoint": "http://ferry.test/authorize",
             "token_endpoint": "http://ferry.test/token", "jwks_uri": "http://ferry.test/jwks"}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "mailbox"


@pytest.fixture
def sink(folder: Path) -> Iterator[SmtpSink]:
    with SmtpSink(Mailbox(folder), free_port()) as running:
        yield running


def send(port: int, to: str, subject: str, text: str) -> None:
    """Send as Ferry's SmtpSender does: plain SMTP, no login, a text/plain body."""
    message = EmailMessage()
    message["From"] = "Harbour ID <no-reply@localhost>"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
        smtp.send_message(message)


def mailbox_page(folder: Path | None):
    app = client_app.create_app({"FERRY_DISCOVERY": DISCOVERY, "DEMO_MAILBOX": folder and str(folder)})
    return app.test_client().get("/mailbox")


def test_find_code() -> None:
    assert find_code("Your sign-in code is 042917\n\nIt works once.") == "042917"
    assert find_code("Votre code de connexion est 123456.") == "123456"
    assert find_code("Your password was changed.") is None
    assert find_code("Order 1234567 shipped") is None  # seven digits are no code


def test_a_code_sent_over_smtp_is_kept_and_announced(sink: SmtpSink, folder: Path, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="demo.run"):
        send(sink.port, "carol@example.com", "Your sign-in code", "Your sign-in code is 042917\n")

    [letter] = Mailbox(folder).letters()
    assert (letter.recipients, letter.subject, letter.code) == (
        ("carol@example.com",), "Your sign-in code", "042917")
    assert "Mail for carol@example.com: 'Your sign-in code'. The code is 042917" in caplog.text


def test_a_notice_without_a_code_is_announced_without_one(sink: SmtpSink, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="demo.run"):
        send(sink.port, "alice@example.com", "Your password was changed", "If it was not you...")
    assert "Mail for alice@example.com: 'Your password was changed'" in caplog.text
    assert "The code is" not in caplog.text


def test_translated_mail_arrives_intact(sink: SmtpSink, folder: Path) -> None:
    send(sink.port, "bob@example.com", "Votre code de connexion", "Votre code de connexion est 314159\n")
    [letter] = Mailbox(folder).letters()
    assert letter.subject == "Votre code de connexion" and letter.code == "314159"


def test_the_page_lists_messages_newest_first_with_the_code_highlighted(sink, folder) -> None:
    send(sink.port, "alice@example.com", "Your sign-in code", "Your sign-in code is 111111\n")
    send(sink.port, "carol@example.com", "Your sign-in code", "Your sign-in code is 222222\n")
    send(sink.port, "bob@example.com", "Your password was changed", "Nothing to type here.")

    response = mailbox_page(folder)

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    rows = re.findall(r"<tr>\s*<td>[\d:]+</td>\s*<td>([^<]+)</td>", page)
    assert rows == ["bob@example.com", "carol@example.com", "alice@example.com"]
    assert '<mark class="demo-code">222222</mark>' in page
    assert '<mark class="demo-code">111111</mark>' in page
    assert page.count("<mark") == 2  # the notice has no code to highlight
    assert "<h1>Demo mailbox</h1>" in page


def test_the_page_escapes_what_the_mail_says(folder: Path) -> None:
    Mailbox(folder).deliver(
        b"To: x@example.com\r\nSubject: <script>alert(1)</script>\r\n\r\n<b>bold</b> 123456\r\n",
        ["x@example.com"])
    page = mailbox_page(folder).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<b>bold</b>" not in page


def test_an_empty_mailbox_says_how_to_get_mail(folder: Path) -> None:
    response = mailbox_page(folder)
    assert response.status_code == 200
    assert "No mail yet" in response.get_data(as_text=True)


def test_without_a_mailbox_there_is_no_page_and_no_link() -> None:
    response = mailbox_page(None)
    assert response.status_code == 404
    assert "exists only while the demo runs" in response.get_data(as_text=True)
    home = client_app.create_app({"FERRY_DISCOVERY": DISCOVERY}).test_client().get("/")
    assert "/mailbox" not in home.get_data(as_text=True)


def test_the_home_page_links_the_mailbox_when_there_is_one(folder: Path) -> None:
    home = client_app.create_app({"FERRY_DISCOVERY": DISCOVERY, "DEMO_MAILBOX": str(folder)})
    assert re.search(r'<a href="/mailbox">Demo mailbox</a>',
                     home.test_client().get("/").get_data(as_text=True))


def test_old_messages_are_dropped(folder: Path, monkeypatch) -> None:
    monkeypatch.setattr("demo.mail_sink.KEEP", 3)
    box = Mailbox(folder)
    for number in range(5):
        box.deliver(f"To: a@example.com\r\nSubject: {number}\r\n\r\ncode {number}00000\r\n".encode(),
                    ["a@example.com"])
    assert [letter.subject for letter in box.letters()] == ["4", "3", "2"]


def test_a_letter_knows_its_time() -> None:
    assert re.fullmatch(r"\d\d:\d\d:\d\d", Letter(0.0, (), "", "", None).received_at)


def test_the_launcher_starts_the_sink_on_an_emptied_mailbox(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "instance" / "mailbox"
    monkeypatch.setattr(launcher, "MAILBOX", folder)
    Mailbox(folder).deliver(b"To: a@example.com\r\nSubject: old\r\n\r\n999999\r\n", ["a@example.com"])
    port = free_port()

    sink = launcher.start_mail_sink(port)
    try:
        send(port, "carol@example.com", "Your sign-in code", "Your sign-in code is 271828\n")
    finally:
        sink.stop()

    assert [letter.code for letter in Mailbox(folder).letters()] == ["271828"]


def test_the_launcher_says_when_the_sink_cannot_start(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(launcher, "MAILBOX", tmp_path / "mailbox")
    with SmtpSink(Mailbox(tmp_path / "other"), free_port()) as taken:
        with pytest.raises(DemoError, match=f"demo mailbox .*{taken.port}"):
            launcher.start_mail_sink(taken.port)
