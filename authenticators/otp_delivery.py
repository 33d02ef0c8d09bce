"""Delivering one-time codes: e-mail over SMTP, or the log for development.

``otp_sender = "smtp"`` sends with :mod:`smtplib` (``smtp_security``: ``none``, ``starttls`` or
``tls``; ``smtp_username`` and ``smtp_password`` to log in), every call bounded by
``smtp_timeout``. ``otp_sender = "log"`` (the default, for the demo) writes the code to Ferry's
log instead: never use it in production. A sender that fails raises :class:`DeliveryFailed`
and the journey tells the user it could not send the code; nothing is consumed.
"""

from __future__ import annotations

import logging
import secrets
import smtplib
import ssl
import threading
import time
from email.message import EmailMessage
from typing import Any

from flask_babel import get_locale, gettext, ngettext

log = logging.getLogger(__name__)


def pause(seconds: float) -> None:
    """Wait as long as a real send would have taken (tests replace this, not ``time.sleep``)."""
    time.sleep(seconds)


class DeliveryFailed(Exception):
    """The code could not be handed over; ``reason`` is for the operator (no code, no secret)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CodeSender:
    """Hands a code to the user. Subclasses implement :meth:`send`.

    Example::

        class PigeonSender(CodeSender):
            def send(self, address, code, minutes):
                if not pigeons.fly(address, f"Your code: {code}"):
                    raise DeliveryFailed("no pigeon came back")
    """

    def send(self, address: str, code: str, minutes: int) -> None:
        """Deliver ``code`` (valid ``minutes``) to ``address`` or raise :class:`DeliveryFailed`."""
        raise NotImplementedError

    def notify(self, address: str, subject: str, text: str) -> None:
        """Tell ``address`` that something changed on the account (a new password, a new
        e-mail address); raises :class:`DeliveryFailed`. Senders that cannot (SMS) do nothing."""


class SendTiming:
    """How sending looks from outside, so that not sending (an unknown address) looks the same.

    Sending waits for the mail server or SMS gateway; not sending would answer at once, and
    the difference tells who has an account. :meth:`imitate` waits about as long as recent
    sends took (a moving average, with jitter), and while the sender has been failing it fails
    too, so an outage reads the same for every address. Per server process.
    """

    #: Seconds after a failed send during which sends are taken to be failing.
    FAILING_FOR = 60.0

    def __init__(self) -> None:
        self.average: float | None = None
        self.failed_at: float | None = None
        self._lock = threading.Lock()

    def sent(self, seconds: float) -> None:
        with self._lock:
            self.average = seconds if self.average is None else 0.8 * self.average + 0.2 * seconds
            self.failed_at = None

    def failed(self) -> None:
        with self._lock:
            self.failed_at = time.monotonic()

    def imitate(self) -> None:
        with self._lock:
            failing = self.failed_at is not None and \
                time.monotonic() - self.failed_at < self.FAILING_FOR
            average = self.average
        if failing:
            raise DeliveryFailed("not sent: the sender has been failing (imitated)")
        if average:
            pause(average * (0.85 + secrets.randbelow(300) / 1000))


def message_text(code: str, minutes: int) -> str:
    """The e-mail's text, in the language of the request that asked for the code."""
    return "\n\n".join([
        gettext("Your sign-in code is %(code)s", code=code),
        ngettext("It works once, for %(num)d minute. If you did not ask for it, ignore this "
                 "message: nobody can sign in without the code.",
                 "It works once, for %(num)d minutes. If you did not ask for it, ignore this "
                 "message: nobody can sign in without the code.", minutes),
    ]) + "\n"


class LogSender(CodeSender):
    """Development only: the code goes to the log, so the demo works without a mail server."""

    def send(self, address: str, code: str, minutes: int) -> None:
        log.warning("otp_sender = log (development only): code %s for %s", code, address)

    def notify(self, address: str, subject: str, text: str) -> None:
        log.warning("otp_sender = log (development only): notice for %s: %s", address, subject)


class SmtpSender(CodeSender):
    def __init__(self, host: str, port: int, security: str, username: str, password: str,
                 sender: str, timeout: float) -> None:
        self.host, self.port, self.security = host, port, security
        self.username, self.password = username, password
        self.sender, self.timeout = sender, timeout

    def send(self, address: str, code: str, minutes: int) -> None:
        self._deliver(address, gettext("Your sign-in code"), message_text(code, minutes))

    def notify(self, address: str, subject: str, text: str) -> None:
        self._deliver(address, subject, text)

    def _deliver(self, address: str, subject: str, text: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = address
        message["Subject"] = subject
        message.set_content(text)
        if get_locale() is not None:  # after set_content, which replaces the Content-* headers
            message["Content-Language"] = str(get_locale()).replace("_", "-")
        try:
            with self._connect() as smtp:
                if self.username:
                    smtp.login(self.username, self.password)
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as error:
            reason = f"SMTP {self.host}:{self.port}: {type(error).__name__}: {error}"
            log.warning("could not send a message: %s", reason)
            raise DeliveryFailed(reason) from None

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.security == "tls":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            try:
                smtp.starttls(context=context)
            except BaseException:
                smtp.close()
                raise
        return smtp


def build_sender(config: Any) -> CodeSender:
    """The sender ``otp_sender`` names, from the app's flat config."""
    if config["OTP_SENDER"] == "smtp":
        return SmtpSender(config["SMTP_HOST"], config["SMTP_PORT"], config["SMTP_SECURITY"],
                          config["SMTP_USERNAME"], config["SMTP_PASSWORD"], config["MAIL_FROM"],
                          config["SMTP_TIMEOUT"])
    return LogSender()
