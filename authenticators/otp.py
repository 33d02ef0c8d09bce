"""One-time codes: 6 digits from :mod:`secrets`, valid 10 minutes, single use.

At rest only ``HMAC-SHA256(secret_key, run_hash:code)`` is kept. A code has 20 bits of entropy:
argon2 would cost ~50 ms on every send and check yet still fall to an offline search of 10^6
candidates, whereas the HMAC's key never reaches the database, so a stolen table is useless
without the server's secret, and binding the run id makes a code worthless in any other run.

The guessing budget: 5 wrong entries kill a code (and the run's later resends, which keep the
count), and at most ``otp_sends_per_identifier`` codes (5 an hour) are sent per identifier to
browsers that never signed in as it, so at most 25 guesses an hour reach an identifier that way.
Sends are also limited per client IP (``otp_sends_per_ip``) and per journey run
(``otp_sends_per_session``), and a browser that signed in as the identifier before (a known
device, :mod:`security.known_devices`) sends from a budget of its own, so that a send storm
against an address spends only the storm's budgets and never keeps the owner out (see
:class:`security.throttle.SendBudget`). The budgets live in the ``limits`` storage shared by
every server and are counted atomically before the send; a failed delivery gives its count back
and stores nothing. Codes go by e-mail (``otp_sender``) or by SMS (``sms_sender``, see
:mod:`authenticators.sms_delivery`); both channels share the budgets.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from datetime import timedelta
from typing import Any, Literal

from authenticators.base import Authenticator
from authenticators.otp_delivery import CodeSender, DeliveryFailed, SendTiming, build_sender
from authenticators.sms_delivery import SmsSender, build_sms_sender
from models import OtpCode, utcnow
from security.throttle import BudgetSpent, Requester, SendBudget

log = logging.getLogger(__name__)

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=10)
MAX_FAILURES = 5
SENDS_PER_IDENTIFIER = "5 per hour"
SENDS_PER_IP = "50 per hour"
SENDS_PER_SESSION = "10 per hour"
_SEND_SCOPE = "otp_send"

Verdict = Literal["ok", "wrong", "dead", "expired", "used", "missing"]
Channel = Literal["email", "sms"]

__all__ = ["Channel", "DeliveryFailed", "OtpAuthenticator", "OtpError", "SendThrottled", "Verdict"]


class OtpError(Exception):
    """Base of the one-time code errors (besides :class:`DeliveryFailed`)."""


class SendThrottled(OtpError):
    """Too many codes were sent to this identifier; ``retry_after`` seconds until the next."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class OtpAuthenticator(Authenticator):
    type = "otp"

    def __init__(self, secret_key: str, sender: CodeSender, sends: SendBudget,
                 sms_sender: SmsSender | None = None) -> None:
        self.key = secret_key.encode()
        self.sender = sender
        self.sms_sender = sms_sender
        self.sends = sends
        self.timing: dict[str, SendTiming] = {"email": SendTiming(), "sms": SendTiming()}

    @classmethod
    def from_config(cls, config: Any) -> OtpAuthenticator:
        sends = SendBudget(config["RATELIMIT_STORAGE_URI"],
                           config.get("OTP_SENDS_PER_IDENTIFIER", SENDS_PER_IDENTIFIER),
                           config.get("OTP_SENDS_PER_IP", SENDS_PER_IP),
                           config.get("OTP_SENDS_PER_SESSION", SENDS_PER_SESSION))
        return cls(config["SECRET_KEY"], build_sender(config), sends, build_sms_sender(config))

    def _sender(self, channel: Channel) -> CodeSender:
        if channel == "email":
            return self.sender
        if self.sms_sender is None:  # start-up validation refuses such journeys; belt and braces
            raise DeliveryFailed("sms_sender = none: no SMS sender is configured")
        return self.sms_sender

    def notify(self, address: str | None, subject: str, text: str) -> bool:
        """Best effort: tell ``address`` (an e-mail address) that its account changed. The change
        is made whatever happens here, so a mail server that fails is logged, not raised."""
        if not address:
            return False
        try:
            self.sender.notify(address, subject, text)
        except DeliveryFailed as failed:
            log.warning("could not send a notice: %s", failed.reason)
            return False
        return True

    def _hash(self, run_hash: str, code: str) -> str:
        return hmac.new(self.key, f"{run_hash}:{code}".encode(), hashlib.sha256).hexdigest()

    def issue(self, run_hash: str, identifier: str, address: str | None,
              channel: Channel = "email", requester: Requester | None = None) -> None:
        """Send a new code for the run to ``address``; ``None`` (no such account) sends nothing.

        ``channel`` says what ``address`` is: an e-mail address, or an E.164 phone number.
        ``requester`` says whose send budgets it spends (default: the run's and the
        identifier's).

        Unknown identifiers get a stored code nobody received, so every later answer matches a
        real account's, after a wait like a real send's (:class:`SendTiming`), and spend the
        same budgets. Raises :class:`SendThrottled` or :class:`DeliveryFailed`; then the
        previous code, its counters and the send budgets are as they were.
        """
        try:
            charge = self.sends.take(_SEND_SCOPE, identifier, requester or Requester(run_hash))
        except BudgetSpent as spent:
            raise SendThrottled(spent.retry_after) from None
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        try:
            if address is not None:
                started = time.monotonic()
                try:
                    self._sender(channel).send(address, code, int(CODE_TTL.total_seconds() // 60))
                except DeliveryFailed:
                    self.timing[channel].failed()
                    raise
                self.timing[channel].sent(time.monotonic() - started)
            else:
                self.timing[channel].imitate()  # as long as a send, and failing while sends fail
        except DeliveryFailed:
            self.sends.give_back(charge)  # nothing went out: nothing is spent
            raise
        values = {"code_hash": self._hash(run_hash, code), "expires_at": utcnow() + CODE_TTL,
                  "used_at": None}
        # A resend replaces the code but never the failure count.
        if not OtpCode.update(**values).where(OtpCode.run == run_hash).execute():
            OtpCode.insert(run=run_hash, failures=0, **values).execute()

    def send_wait(self, identifier: str, requester: Requester) -> int:
        """Seconds until :meth:`issue` could send for ``identifier`` (0: now); counts nothing."""
        return self.sends.retry_after(_SEND_SCOPE, identifier, requester)

    def verify(self, run_hash: str, code: str) -> Verdict:
        """Check ``code`` for the run; only ``ok`` signs in, and only once."""
        row = OtpCode.get_or_none(OtpCode.run == run_hash)
        if row is None:
            return "missing"
        if row.used_at is not None:
            return "used"
        if row.failures >= MAX_FAILURES:
            return "dead"
        if row.expires_at <= utcnow():
            return "expired"
        live = (OtpCode.run == run_hash) & (OtpCode.failures < MAX_FAILURES)
        if hmac.compare_digest(self._hash(run_hash, code), row.code_hash):
            # Conditional update: of two concurrent requests with the right code, one wins.
            claimed = OtpCode.update(used_at=utcnow()).where(
                live & OtpCode.used_at.is_null() & (OtpCode.code_hash == row.code_hash)).execute()
            return "ok" if claimed else "used"
        OtpCode.update(failures=OtpCode.failures + 1).where(live).execute()
        failures = OtpCode.get(OtpCode.run == run_hash).failures
        return "dead" if failures >= MAX_FAILURES else "wrong"

    def discard(self, run_hash: str) -> None:
        """Forget the run's code (after a dead code, so the user starts over)."""
        OtpCode.delete().where(OtpCode.run == run_hash).execute()
