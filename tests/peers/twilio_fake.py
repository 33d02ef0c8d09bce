"""A faithful fake of Twilio Programmable Messaging's ``Messages.json``, on loopback.

Twilio is SaaS and cannot run here, so this Flask app (in a thread, real sockets) implements
the documented request and response shapes of ``POST /2010-04-01/Accounts/{AccountSid}/
Messages.json``:

* the request: ``application/x-www-form-urlencoded`` ``To``, ``From`` or
  ``MessagingServiceSid``, ``Body``; HTTP Basic auth with the account SID and auth token, or an
  API key SID (``SK...``) and its secret;
* success: ``201`` and the Message resource (``sid`` ``SM...``, ``status`` ``queued``,
  ``direction`` ``outbound-api``, RFC 2822 dates, ``num_segments`` as a string...);
* errors: ``{"code", "message", "more_info", "status"}`` with ``401 20003`` (missing or wrong
  credentials, or credentials of another account), ``400 21211`` (``To`` not a valid E.164
  number), ``400 21606`` (``From`` not a number of this account), ``400 21602`` (no body),
  ``400 21603`` (neither ``From`` nor ``MessagingServiceSid``), ``400 21604`` (no ``To``),
  ``400 21617`` (body over 1600 characters) and ``404 20404`` (an unknown Messaging Service;
  Twilio's generic "not found").

Knobs for tests: :attr:`TwilioFake.outbox` (messages accepted), :attr:`TwilioFake.requests`
(every request: headers and form), :attr:`TwilioFake.failing` (answer ``500 20500``),
:attr:`TwilioFake.hang` (hold every request until the server stops), :meth:`stopped` (an
outage on the same port), :meth:`last_code` (the code in the last text to a number, read as a
person would).
"""

from __future__ import annotations

import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from flask import Flask, jsonify, request

from tests.peers.loopback import LoopbackServer

ERRORS_URL = "https://www.twilio.com/docs/errors/{code}"
E164 = re.compile(r"\+[1-9][0-9]{7,14}")


def sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class TwilioFake(LoopbackServer):
    """One Twilio account with its numbers, API keys and Messaging Services."""

    account_sid: str = field(default_factory=lambda: sid("AC"))
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16))
    numbers: tuple[str, ...] = ("+15005550006",)
    api_keys: dict[str, str] = field(default_factory=dict)  # SK... -> secret
    services: tuple[str, ...] = ()  # MG...
    outbox: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    failing: bool = False
    hang: bool = False
    thread_name = "twilio-fake"

    def __post_init__(self) -> None:
        self._init_loopback()
        self._lock = threading.Lock()
        self.app = self._build_app()

    def new_api_key(self) -> tuple[str, str]:
        key, secret = sid("SK"), secrets.token_hex(16)
        self.api_keys[key] = secret
        return key, secret

    def config(self, **overrides: Any) -> dict[str, Any]:
        """Test config that makes Ferry send its SMS here."""
        return {"SMS_SENDER": "twilio", "TWILIO_BASE_URL": self.base_url,
                "TWILIO_ACCOUNT_SID": self.account_sid, "TWILIO_AUTH_TOKEN": self.auth_token,
                "TWILIO_FROM": self.numbers[0], "SMS_TIMEOUT": 2, **overrides}

    def last_code(self, to: str) -> str:
        mine = [m for m in self.outbox if m["to"] == to]
        assert mine, f"no SMS to {to} (got {[m['to'] for m in self.outbox]})"
        found = re.search(r"\b(\d{6})\b", mine[-1]["body"])
        assert found, mine[-1]["body"]
        return found.group(1)

    # -- the API -------------------------------------------------------------------------
    def _build_app(self) -> Flask:
        app = Flask("twilio_fake")

        @app.post("/2010-04-01/Accounts/<account>/Messages.json")
        def create_message(account: str):
            with self._lock:
                self.requests.append({"headers": dict(request.headers),
                                      "form": request.form.to_dict(), "account": account})
            if self.hang:
                self._released.wait(30)
            if self.failing:
                return error(500, 20500, "An internal server error has occurred")
            auth = request.authorization
            if auth is None or not self._authenticated(auth.username, auth.password, account):
                response = error(401, 20003, "Authenticate")
                response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
                return response
            return self._create(account, request.form)

        return app

    def _authenticated(self, username: str | None, password: str | None, account: str) -> bool:
        if account != self.account_sid or not username or password is None:
            return False
        if username == self.account_sid:
            return secrets.compare_digest(password, self.auth_token)
        secret = self.api_keys.get(username)
        return secret is not None and secrets.compare_digest(password, secret)

    def _create(self, account: str, form) -> Any:
        to, sender = form.get("To", ""), form.get("From", "")
        service, body = form.get("MessagingServiceSid", ""), form.get("Body", "")
        if not to:
            return error(400, 21604, "A 'To' phone number is required.")
        if not sender and not service:
            return error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return error(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return error(400, 21617, "The concatenated message body exceeds the 1600 character "
                                     "limit.")
        if not E164.fullmatch(to):
            return error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if service and service not in self.services:
            return error(404, 20404, f"The requested resource /2010-04-01/Accounts/{account}/"
                                     "Messages.json was not found")
        if not service and sender not in self.numbers:
            return error(400, 21606, f"The From phone number {sender} is not a valid, "
                                     "SMS-capable inbound phone number or short code for your "
                                     "account.")
        now = format_datetime(datetime.now(UTC))
        message_sid = sid("SM")
        uri = f"/2010-04-01/Accounts/{account}/Messages/{message_sid}.json"
        message = {
            "account_sid": account, "api_version": "2010-04-01", "body": body,
            "date_created": now, "date_sent": None, "date_updated": now,
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": sender or None, "messaging_service_sid": service or None,
            "num_media": "0", "num_segments": "0" if service else "1", "price": None,
            "price_unit": "USD", "sid": message_sid, "status": "accepted" if service else "queued",
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": to, "uri": uri,
        }
        with self._lock:
            self.outbox.append(message)
        response = jsonify(message)
        response.status_code = 201
        return response


def error(status: int, code: int, message: str) -> Any:
    response = jsonify({"code": code, "message": message,
                        "more_info": ERRORS_URL.format(code=code), "status": status})
    response.status_code = status
    return response
