"""A real SMTP server for the tests (aiosmtpd) on a free loopback port, keeping what it receives."""

from __future__ import annotations

import re
import socket
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MailServer:
    def __init__(self) -> None:
        self.received: list[EmailMessage] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        message = message_from_bytes(envelope.content, policy=policy.default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.received.append(message)
        return "250 OK"

    def __enter__(self) -> MailServer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    def config(self) -> dict:
        """Test config that makes Ferry send its codes here."""
        return {"OTP_SENDER": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": self.port,
                "SMTP_SECURITY": "none", "SMTP_TIMEOUT": 5, "MAIL_FROM": "Ferry <ferry@example.com>"}

    def last_code(self, to: str) -> str:
        """The code in the last message sent to ``to``, read as the user would."""
        mine = [m for m in self.received if m["X-Envelope-To"] == to]
        assert mine, f"no mail to {to} (got {[m['X-Envelope-To'] for m in self.received]})"
        found = re.search(r"\b(\d{6})\b", mine[-1].get_content())
        assert found, mine[-1].get_content()
        return found.group(1)
