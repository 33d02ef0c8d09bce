"""Delivering one-time codes by SMS, through a pluggable HTTP sender.

``sms_sender`` picks one:

* ``none`` (the default): no SMS; a journey whose ``otp_send`` step has ``channel = "sms"`` or
  ``"any"`` fails at start-up, so a forgotten sender is never a silent one.
* ``log``: development only, the code goes to Ferry's log.
* ``webhook``: ``POST sms_webhook_url`` with the JSON body
  ``{"to": "+E164", "message": "...", "code": "123456", "expires_in": 600}``, an
  ``Authorization: Bearer <sms_webhook_token>`` header when a token is set, and
  ``X-Ferry-Timestamp: <unix seconds>`` with ``X-Ferry-Signature: sha256=<hex HMAC-SHA256 of
  "<timestamp>." followed by the exact body bytes, keyed with sms_webhook_secret>`` when a
  secret is set (at least one of the two is required), so the receiver can tell Ferry's
  requests from anyone's and refuse an old one replayed (check the timestamp is within 5
  minutes). Any 2xx answer means sent.
* ``twilio``: Twilio Programmable Messaging, ``POST {twilio_base_url}/2010-04-01/Accounts/
  {AccountSid}/Messages.json`` with the form fields ``To``, ``From`` (or
  ``MessagingServiceSid``) and ``Body``, HTTP Basic auth with the account SID and auth token
  (or an API key SID and its secret). ``201`` means queued; Twilio's JSON errors
  (``{"code", "message", "more_info", "status"}``) become the operator's reason.

Every call has connect and read timeouts (``sms_timeout``) and follows no redirect. Anything but
success raises :class:`~authenticators.otp_delivery.DeliveryFailed` with a reason for the
operator that never holds the code or a secret (a receiver's body is not quoted: it might echo
the code); the journey then says it could not send the code and nothing is consumed.

The text ends with the origin-bound line of the WebOTP format (``@login.example.com #123456``),
so browsers that support it offer the code only on Ferry's own sign-in page.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
from flask_babel import ngettext

from authenticators.otp_delivery import CodeSender, DeliveryFailed

log = logging.getLogger(__name__)

USER_AGENT = "Ferry (one-time codes)"
SIGNATURE_HEADER = "X-Ferry-Signature"
TIMESTAMP_HEADER = "X-Ferry-Timestamp"
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_SEPARATORS = re.compile(r"[\s().\-]")


def e164(value: Any) -> str | None:
    """``value`` as an E.164 number (``+`` and 7 to 15 digits), or ``None`` when it is not one.

    Spaces, dots, dashes and parentheses are dropped (``+44 (0)20``-style trunk zeros are not
    guessed away); a number without its country code cannot be made E.164 and gives ``None``.
    """
    if not isinstance(value, str):
        return None
    candidate = _SEPARATORS.sub("", value)
    return candidate if _E164.fullmatch(candidate) else None


def sms_text(code: str, minutes: int, host: str) -> str:
    """The text, in the language of the request that asked for the code; the WebOTP line that
    ends it is a format, never translated."""
    words = ngettext("Your sign-in code for %(host)s is %(code)s. It works once, for %(num)d "
                     "minute. Never share it.",
                     "Your sign-in code for %(host)s is %(code)s. It works once, for %(num)d "
                     "minutes. Never share it.", minutes, host=host, code=code)
    return f"{words}\n\n@{host} #{code}"


class SmsSender(CodeSender):
    """Hands a code to a phone. Subclasses implement :meth:`deliver`.

    :meth:`send` refuses a number that is not E.164, builds the text and calls :meth:`deliver`.

    Example::

        class CarrierPigeonSms(SmsSender):
            def deliver(self, phone, text, code, seconds):
                if not pigeons.fly(phone, text):
                    raise DeliveryFailed("no pigeon came back")
    """

    def __init__(self, host: str) -> None:
        self.host = host

    def send(self, address: str, code: str, minutes: int) -> None:
        phone = e164(address)
        if phone is None:
            raise DeliveryFailed("the phone number is not in E.164 form")
        self.deliver(phone, sms_text(code, minutes, self.host), code, minutes * 60)

    def deliver(self, phone: str, text: str, code: str, seconds: int) -> None:
        """Send ``text`` (holding ``code``, valid ``seconds``) to ``phone`` or raise
        :class:`DeliveryFailed`."""
        raise NotImplementedError


class LogSmsSender(SmsSender):
    """Development only: the code goes to the log instead of a phone."""

    def deliver(self, phone: str, text: str, code: str, seconds: int) -> None:
        log.warning("sms_sender = log (development only): code %s for %s", code, phone)


class HttpSmsSender(SmsSender):
    """An SMS sender that makes one HTTP request, with timeouts and no redirects."""

    label = "SMS gateway"

    def __init__(self, host: str, timeout: float) -> None:
        super().__init__(host)
        self.timeout = (timeout, timeout)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        try:
            return self.session.post(url, timeout=self.timeout, allow_redirects=False, **kwargs)
        except requests.exceptions.Timeout:
            raise self.failed(f"{self.label} {_origin(url)} timed out") from None
        except requests.exceptions.ConnectionError:
            raise self.failed(f"could not connect to {self.label} {_origin(url)}") from None
        except requests.exceptions.RequestException as error:
            raise self.failed(f"{self.label} {_origin(url)}: {type(error).__name__}") from None

    def failed(self, reason: str) -> DeliveryFailed:
        log.warning("could not send a one-time code by SMS: %s", reason)
        return DeliveryFailed(reason)


class WebhookSmsSender(HttpSmsSender):
    """POSTs the code as JSON to the operator's own SMS gateway."""

    label = "SMS webhook"

    def __init__(self, host: str, url: str, token: str, secret: str, timeout: float) -> None:
        super().__init__(host, timeout)
        self.url, self.token, self.secret = url, token, secret.encode()

    def deliver(self, phone: str, text: str, code: str, seconds: int) -> None:
        body = json.dumps({"to": phone, "message": text, "code": code, "expires_in": seconds},
                          separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.secret:
            timestamp = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = "sha256=" + sign(self.secret, timestamp, body)
        response = self.post(self.url, data=body, headers=headers)
        if not 200 <= response.status_code < 300:
            # The receiver's body is not quoted: it might echo the code back.
            raise self.failed(f"{self.label} {_origin(self.url)} answered {response.status_code}")


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``<timestamp>.<body>``; receivers compare it in constant time
    and refuse a timestamp more than a few minutes old (a replayed request)."""
    return hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class TwilioSmsSender(HttpSmsSender):
    """Twilio Programmable Messaging (``Messages.json``)."""

    label = "Twilio"

    def __init__(self, host: str, base_url: str, account_sid: str, username: str, secret: str,
                 sender: str, messaging_service_sid: str, timeout: float) -> None:
        super().__init__(host, timeout)
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.auth = (username, secret)
        # A Messaging Service picks the sender itself; it wins when both are set.
        self.origin = ({"MessagingServiceSid": messaging_service_sid} if messaging_service_sid
                       else {"From": sender})

    def deliver(self, phone: str, text: str, code: str, seconds: int) -> None:
        response = self.post(self.url, data={"To": phone, **self.origin, "Body": text},
                             auth=self.auth, headers={"Accept": "application/json"})
        body = _json_object(response)
        if 200 <= response.status_code < 300:
            if body.get("status") in ("failed", "undelivered"):
                raise self.failed(f"Twilio refused message {body.get('sid')}: error "
                                  f"{body.get('error_code')} {body.get('error_message')}")
            log.info("one-time code handed to Twilio as message %s", body.get("sid"))
            return
        if "code" in body:
            raise self.failed(f"Twilio answered {response.status_code}: error {body['code']}: "
                              f"{body.get('message')} ({body.get('more_info')})")
        content_type = response.headers.get("Content-Type", "no content type")
        raise self.failed(f"Twilio answered {response.status_code} with {content_type}")


def _json_object(response: requests.Response) -> dict:
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return {}
    return body if isinstance(body, dict) else {}


def _origin(url: str) -> str:
    """Scheme, host and port: enough for the operator, without paths that may hold secrets."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"


def _webhook(config: Any, host: str) -> SmsSender:
    return WebhookSmsSender(host, config["SMS_WEBHOOK_URL"], config["SMS_WEBHOOK_TOKEN"],
                            config["SMS_WEBHOOK_SECRET"], config["SMS_TIMEOUT"])


def _twilio(config: Any, host: str) -> SmsSender:
    account = config["TWILIO_ACCOUNT_SID"]
    return TwilioSmsSender(host, config["TWILIO_BASE_URL"], account,
                           config["TWILIO_API_KEY_SID"] or account, config["TWILIO_AUTH_TOKEN"],
                           config["TWILIO_FROM"], config["TWILIO_MESSAGING_SERVICE_SID"],
                           config["SMS_TIMEOUT"])


SENDERS: dict[str, Callable[[Any, str], SmsSender]] = {
    "log": lambda config, host: LogSmsSender(host),
    "webhook": _webhook,
    "twilio": _twilio,
}


def build_sms_sender(config: Any) -> SmsSender | None:
    """The sender ``sms_sender`` names, from the app's flat config; ``None`` for ``none``."""
    factory = SENDERS.get(config["SMS_SENDER"])
    if factory is None:
        return None
    return factory(config, urlsplit(config["ISSUER"]).hostname or "localhost")
