"""The demo's mailbox: an SMTP server that keeps what Ferry sends, for the console and a web page.

Demo only. ``demo.run`` starts :class:`SmtpSink` on 127.0.0.1 and points Ferry's
``otp_sender = "smtp"`` at it, so one-time codes travel the way they do in production (over
SMTP, in the user's language) instead of being written to Ferry's log. Every message is kept in
a :class:`Mailbox`, a Maildir folder (``instance/demo/mailbox``: one file a message, written to
``tmp/`` and renamed into ``new/``, so a reader never sees half a message), and announced on
the console with its code. The demo app reads the same folder for its "Demo mailbox" page.

Ferry knows nothing of this: it only speaks SMTP to whatever ``smtp_host`` names. Nothing here
relays mail anywhere; an address outside the demo gets nothing.
"""

from __future__ import annotations

import logging
import mailbox
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

logger = logging.getLogger("demo.run")

#: A one-time code in a message: six digits standing alone (Ferry's codes; see authenticators/otp).
CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")
#: Messages kept; older ones are dropped as new ones arrive.
KEEP = 200
RECEIVED_HEADER = "X-Demo-Received"
RECIPIENTS_HEADER = "X-Demo-Envelope-To"


def find_code(text: str) -> str | None:
    """The one-time code in ``text``, or None (a notice: "your password was changed")."""
    found = CODE.search(text)
    return found.group(1) if found else None


@dataclass(frozen=True)
class Letter:
    """One message as the mailbox page shows it."""

    received: float  # seconds since the epoch
    recipients: tuple[str, ...]
    subject: str
    text: str
    code: str | None

    @property
    def received_at(self) -> str:
        """The local time it arrived, ``HH:MM:SS``."""
        return time.strftime("%H:%M:%S", time.localtime(self.received))


class Mailbox:
    """A Maildir folder: :meth:`deliver` writes (the sink), :meth:`letters` reads (the app)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._maildir = mailbox.Maildir(self.path, create=True)

    def deliver(self, raw: bytes, recipients: Sequence[str]) -> Letter:
        """Keep the message ``raw`` (as received over SMTP) for ``recipients``; return it read."""
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        received = time.time()
        message[RECEIVED_HEADER] = f"{received:.6f}"
        message[RECIPIENTS_HEADER] = ", ".join(recipients)
        self._maildir.add(message)
        self._drop_old()
        return _letter(message)

    def letters(self, limit: int = 50) -> list[Letter]:
        """The newest ``limit`` messages, newest first; unreadable files are skipped."""
        found = []
        for key in self._maildir.keys():
            try:
                raw = self._maildir.get_bytes(key)
            except (KeyError, OSError):  # removed since keys() was read
                continue
            message = message_from_bytes(raw, policy=policy.default)
            if isinstance(message, EmailMessage):
                found.append(_letter(message))
        found.sort(key=lambda letter: letter.received, reverse=True)
        return found[:limit]

    def _drop_old(self) -> None:
        keys = self._maildir.keys()
        if len(keys) <= KEEP:
            return
        by_age = sorted(keys, key=lambda key: self._maildir.get_message(key).get_date())
        for key in by_age[: len(keys) - KEEP]:
            self._maildir.discard(key)


def _letter(message: EmailMessage) -> Letter:
    try:
        received = float(str(message.get(RECEIVED_HEADER, "0")))
    except ValueError:
        received = 0.0
    recipients = tuple(filter(None, (r.strip() for r in str(message.get(RECIPIENTS_HEADER, ""))
                                     .split(","))))
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if isinstance(body, EmailMessage) else ""
    return Letter(received, recipients or (str(message.get("To", "")),),
                  str(message.get("Subject", "(no subject)")), text, find_code(text))


def announce(letter: Letter) -> None:
    """Say on the console that a message arrived, with its code: the demo's whole point, and
    the one place a code may be logged (these are demo users' codes, on the demo's console)."""
    to = ", ".join(letter.recipients)
    if letter.code:
        logger.info("\n  >>> Mail for %s: %r. The code is %s\n", to, letter.subject, letter.code)
    else:
        logger.info("\n  >>> Mail for %s: %r\n", to, letter.subject)


class SmtpSink:
    """An SMTP server on 127.0.0.1 (aiosmtpd, in a thread of this process) delivering every
    message to a :class:`Mailbox` and telling ``on_letter`` about it."""

    def __init__(self, box: Mailbox, port: int,
                 on_letter: Callable[[Letter], None] = announce) -> None:
        self.mailbox = box
        self.port = port
        self.on_letter = on_letter
        self._controller = Controller(self, hostname="127.0.0.1", port=port, enable_SMTPUTF8=True)
        # aiosmtpd narrates every SMTP command at INFO; the console needs only the codes.
        logging.getLogger("mail.log").setLevel(logging.WARNING)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's hook name)
        """aiosmtpd: keep and announce the message; a message that cannot be kept is refused."""
        try:
            letter = self.mailbox.deliver(envelope.content, envelope.rcpt_tos)
        except (OSError, ValueError, TypeError) as error:
            logger.warning("demo mailbox: could not keep a message: %s", error)
            return "451 Requested action aborted: the demo mailbox could not keep it"
        self.on_letter(letter)
        return "250 OK"

    def start(self) -> SmtpSink:
        """Listen; return once the server answers (a port in use: OSError, nothing left open)."""
        try:
            with socket.socket() as probe:  # a port in use fails here at once; aiosmtpd waits 5 s
                probe.bind(("127.0.0.1", self.port))
            self._controller.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop listening and close the server's event loop (idempotent)."""
        try:
            self._controller.stop()
        except AssertionError:  # aiosmtpd: not running
            pass
        if not self._controller.loop.is_closed():
            self._controller.loop.close()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
