"""SMS senders against real HTTP peers on loopback: a webhook receiver and the Twilio fake.

The receiver checks the bearer token and the HMAC signature the way an operator's gateway
would; the Twilio fake implements the documented ``Messages.json`` shapes and errors.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from datetime import timedelta

import pytest
from flask import Flask, request

import authenticators
from authenticators.otp import DeliveryFailed
from authenticators.sms_delivery import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    TwilioSmsSender,
    WebhookSmsSender,
    build_sms_sender,
    e164,
)
from models import JourneyRun, OtpCode, db, utcnow
from settings.errors import ConfigError
from tests.authenticators.mail import free_port
from tests.peers.loopback import LoopbackServer
from tests.peers.twilio_fake import TwilioFake

PHONE = "+447700900123"
TOKEN = "webhook-token-0123456789"
SECRET = "webhook-secret-abcdefghij"


class SmsWebhookReceiver(LoopbackServer):
    """An operator's SMS gateway: refuses requests without the right token and signature.

    ``mode``: ``ok`` (202), ``error`` (500), ``hang`` (answers only when the server stops).
    """

    thread_name = "sms-webhook"

    def __init__(self, token: str = TOKEN, secret: str = SECRET) -> None:
        self._init_loopback()
        self.token, self.secret = token, secret.encode()
        self.mode = "ok"
        self.delivered: list[dict] = []
        self.refused: list[str] = []
        self._lock = threading.Lock()
        self.app = Flask("sms_webhook")
        self.app.add_url_rule("/sms", view_func=self.receive, methods=["POST"])

    def receive(self):
        body = request.get_data()
        if self.mode == "hang":
            self._released.wait(30)
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._refuse("token", 401)
        if self.secret:
            # As the README tells receivers: the HMAC of "<timestamp>.<body>", and a fresh timestamp.
            timestamp = request.headers.get(TIMESTAMP_HEADER, "")
            signed = timestamp.encode() + b"." + body
            expected = "sha256=" + hmac.new(self.secret, signed, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(request.headers.get(SIGNATURE_HEADER, ""), expected):
                return self._refuse("signature", 403)
            if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
                return self._refuse("stale", 403)
        if request.mimetype != "application/json":
            return self._refuse("content type", 415)
        if self.mode == "error":
            return {"error": "carrier unreachable"}, 500
        with self._lock:
            self.delivered.append(json.loads(body))
        return {"id": f"msg-{len(self.delivered)}"}, 202

    def _refuse(self, why: str, status: int):
        with self._lock:
            self.refused.append(why)
        return {"error": why}, status

    @property
    def url(self) -> str:
        return f"{self.base_url}/sms"

    def config(self, **overrides) -> dict:
        return {"SMS_SENDER": "webhook", "SMS_WEBHOOK_URL": self.url, "SMS_WEBHOOK_TOKEN": TOKEN,
                "SMS_WEBHOOK_SECRET": SECRET, "SMS_TIMEOUT": 2, **overrides}


@pytest.fixture
def receiver():
    with SmsWebhookReceiver() as server:
        yield server


@pytest.fixture
def twilio():
    with TwilioFake() as server:
        yield server


def webhook(receiver, token=TOKEN, secret=SECRET, timeout=2.0) -> WebhookSmsSender:
    return WebhookSmsSender("login.example.com", receiver.url, token, secret, timeout)


def twilio_sender(fake: TwilioFake, **overrides) -> TwilioSmsSender:
    settings = {"host": "login.example.com", "base_url": fake.base_url,
                "account_sid": fake.account_sid, "username": fake.account_sid,
                "secret": fake.auth_token, "sender": fake.numbers[0],
                "messaging_service_sid": "", "timeout": 2.0, **overrides}
    return TwilioSmsSender(**settings)


# -- phone numbers ------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "expected"), [
    ("+447700900123", "+447700900123"),
    ("+44 7700 900123", "+447700900123"),
    ("+1 (555) 010-0142", "+15550100142"),
    ("+1.555.010.0142", "+15550100142"),
    ("07700 900123", None),       # national form: the country is unknown
    ("+0447700900123", None),     # no country code starts with 0
    ("+12345", None),             # too short
    ("+1234567890123456", None),  # 16 digits: longer than E.164 allows
    ("+44 7700 90O123", None),    # a letter O
    ("", None),
    (None, None),
    (447700900123, None),
])
def test_phone_numbers_are_taken_only_in_e164_form(raw, expected):
    assert e164(raw) == expected


# -- the webhook --------------------------------------------------------------------------
def test_the_webhook_gets_signed_json_with_a_bearer_token(receiver):
    webhook(receiver).send("+44 7700 900123", "123456", 10)
    assert receiver.refused == []
    (message,) = receiver.delivered
    assert message["to"] == PHONE and message["code"] == "123456"
    assert message["expires_in"] == 600
    assert "123456" in message["message"] and "10 minutes" in message["message"]
    assert message["message"].endswith("\n\n@login.example.com #123456")  # WebOTP's line


def test_the_signature_alone_authenticates_ferry():
    with SmsWebhookReceiver(token="") as receiver:
        webhook(receiver, token="").send(PHONE, "654321", 10)
        assert [m["code"] for m in receiver.delivered] == ["654321"]


@pytest.mark.parametrize(("token", "secret", "refused"), [
    ("wrong-token", SECRET, "token"),
    (TOKEN, "wrong-secret", "signature"),
    (TOKEN, "", "signature"),
])
def test_a_receiver_that_refuses_ferry_is_a_failed_delivery(receiver, token, secret, refused):
    with pytest.raises(DeliveryFailed) as failed:
        webhook(receiver, token=token, secret=secret).send(PHONE, "123456", 10)
    assert receiver.refused == [refused] and receiver.delivered == []
    assert "answered 40" in failed.value.reason


def test_a_server_error_is_a_failed_delivery_whose_reason_holds_no_code(receiver, caplog):
    receiver.mode = "error"
    with caplog.at_level(logging.WARNING), pytest.raises(DeliveryFailed) as failed:
        webhook(receiver).send(PHONE, "987654", 10)
    assert failed.value.reason == f"SMS webhook {receiver.base_url} answered 500"
    assert "987654" not in caplog.text and SECRET not in caplog.text and TOKEN not in caplog.text


def test_a_hanging_receiver_times_out(receiver):
    receiver.mode = "hang"
    with pytest.raises(DeliveryFailed, match="timed out"):
        webhook(receiver, timeout=0.3).send(PHONE, "123456", 10)
    assert receiver.delivered == []


def test_a_receiver_that_is_down_is_a_failed_delivery(receiver):
    sender = webhook(receiver)
    with receiver.stopped(), pytest.raises(DeliveryFailed, match="could not connect"):
        sender.send(PHONE, "123456", 10)
    sender.send(PHONE, "123456", 10)  # the same sender works once it is back
    assert len(receiver.delivered) == 1


def test_a_number_not_in_e164_form_is_never_sent(receiver):
    with pytest.raises(DeliveryFailed, match="E.164"):
        webhook(receiver).send("07700 900123", "123456", 10)
    assert receiver.delivered == [] and receiver.refused == []


# -- Twilio -------------------------------------------------------------------------------
def test_twilio_queues_the_text_from_the_configured_number(twilio):
    twilio_sender(twilio).send(PHONE, "123456", 10)
    (message,) = twilio.outbox
    assert (message["to"], message["from"], message["status"]) == (PHONE, "+15005550006", "queued")
    assert twilio.last_code(PHONE) == "123456"
    form = twilio.requests[-1]["form"]
    assert set(form) == {"To", "From", "Body"}
    assert twilio.requests[-1]["headers"]["Content-Type"] == "application/x-www-form-urlencoded"


def test_twilio_with_an_api_key_and_a_messaging_service(twilio):
    key, secret = twilio.new_api_key()
    twilio.services = ("MG" + "0" * 32,)
    twilio_sender(twilio, username=key, secret=secret, sender="",
                  messaging_service_sid=twilio.services[0]).send(PHONE, "123456", 10)
    assert twilio.outbox[-1]["messaging_service_sid"] == twilio.services[0]
    assert set(twilio.requests[-1]["form"]) == {"To", "MessagingServiceSid", "Body"}


@pytest.mark.parametrize(("overrides", "to", "expected"), [
    ({"secret": "not-the-token"}, PHONE, "Twilio answered 401: error 20003: Authenticate"),
    ({"username": "SK" + "1" * 32}, PHONE, "Twilio answered 401: error 20003"),
    ({"account_sid": "AC" + "2" * 32}, PHONE, "Twilio answered 401: error 20003"),
    ({"sender": "+15005550001"}, PHONE, "Twilio answered 400: error 21606"),
    ({}, "+0123", None),
])
def test_twilio_errors_are_failed_deliveries_with_twilios_code(twilio, overrides, to, expected):
    sender = twilio_sender(twilio, **overrides)
    if expected is None:
        # Ferry never sends a number that is not E.164; Twilio's own 21211 is shown below.
        with pytest.raises(DeliveryFailed, match="E.164"):
            sender.send(to, "123456", 10)
        assert twilio.requests == []
        return
    with pytest.raises(DeliveryFailed) as failed:
        sender.send(to, "123456", 10)
    assert failed.value.reason.startswith(expected)
    assert "123456" not in failed.value.reason and twilio.auth_token not in failed.value.reason
    assert twilio.outbox == []


def test_twilio_refuses_a_number_that_is_e164_in_form_but_too_short_for_it(twilio):
    # Seven digits pass Ferry's form check; the fake, like Twilio, wants a plausible number.
    with pytest.raises(DeliveryFailed) as failed:
        twilio_sender(twilio).send("+4412345", "123456", 10)
    assert "error 21211" in failed.value.reason
    assert "https://www.twilio.com/docs/errors/21211" in failed.value.reason


def test_twilio_down_slow_or_failing_is_a_failed_delivery(twilio):
    sender = twilio_sender(twilio, timeout=0.3)
    with twilio.stopped(), pytest.raises(DeliveryFailed, match="could not connect to Twilio"):
        sender.send(PHONE, "123456", 10)
    twilio.failing = True
    with pytest.raises(DeliveryFailed, match="Twilio answered 500: error 20500"):
        sender.send(PHONE, "123456", 10)
    twilio.failing, twilio.hang = False, True
    with pytest.raises(DeliveryFailed, match="Twilio .* timed out"):
        sender.send(PHONE, "123456", 10)
    assert twilio.outbox == []


# -- settings and wiring ------------------------------------------------------------------
def test_sms_is_off_unless_a_sender_is_chosen(make_app):
    app = make_app()
    assert app.config["SMS_SENDER"] == "none" and build_sms_sender(app.config) is None
    assert isinstance(build_sms_sender({**app.config, "SMS_SENDER": "twilio",
                                        "TWILIO_ACCOUNT_SID": "AC" + "a" * 32}), TwilioSmsSender)


@pytest.mark.parametrize(("config", "problem"), [
    ({"SMS_SENDER": "webhook", "SMS_WEBHOOK_SECRET": SECRET},
     'ferry.sms_webhook_url: required when sms_sender = "webhook"'),
    ({"SMS_SENDER": "webhook", "SMS_WEBHOOK_URL": "https://sms.example.com/send"},
     "ferry.sms_webhook_secret: sms_sender = \"webhook\" needs sms_webhook_secret or "
     "sms_webhook_token"),
    ({"SMS_WEBHOOK_URL": "ftp://sms.example.com/"}, "ferry.sms_webhook_url"),
    ({"SMS_SENDER": "twilio", "TWILIO_AUTH_TOKEN": "t", "TWILIO_FROM": "+15005550006"},
     'ferry.twilio_account_sid: required when sms_sender = "twilio"'),
    ({"SMS_SENDER": "twilio", "TWILIO_ACCOUNT_SID": "AC" + "a" * 32, "TWILIO_FROM": "+15005550006"},
     'ferry.twilio_auth_token: required when sms_sender = "twilio"'),
    ({"SMS_SENDER": "twilio", "TWILIO_ACCOUNT_SID": "AC" + "a" * 32, "TWILIO_AUTH_TOKEN": "t"},
     'ferry.twilio_from: sms_sender = "twilio" needs twilio_from or twilio_messaging_service_sid'),
    ({"SMS_SENDER": "twilio", "TWILIO_ACCOUNT_SID": "SK" + "a" * 32, "TWILIO_AUTH_TOKEN": "t",
      "TWILIO_FROM": "+15005550006"}, "ferry.twilio_account_sid: a Twilio SID is AC and 32 hex"),
    ({"SMS_SENDER": "twilio", "TWILIO_ACCOUNT_SID": "AC" + "a" * 32, "TWILIO_AUTH_TOKEN": "t",
      "TWILIO_MESSAGING_SERVICE_SID": "MG123"},
     "ferry.twilio_messaging_service_sid: a Twilio SID is MG and 32 hex"),
])
def test_an_incomplete_sms_sender_stops_start_up(make_app, config, problem):
    with pytest.raises(ConfigError) as caught:
        make_app(**config)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_a_code_sent_by_sms_is_the_code_that_verifies(make_app, twilio):
    app = make_app(**twilio.config())
    with app.app_context(), db.connection_context():
        JourneyRun.create(id_hash="run-1", journey="sign-in-with-code", step="verify",
                          expires_at=utcnow() + timedelta(minutes=15))
        otp = authenticators.get("otp")
        otp.issue("run-1", "alice@example.com", PHONE, "sms")
        code = twilio.last_code(PHONE)
        assert twilio.outbox[-1]["body"].endswith(f"@localhost #{code}")  # ISSUER's host
        assert code not in OtpCode.get(OtpCode.run == "run-1").code_hash
        assert otp.verify("run-1", code) == "ok"


def test_a_failed_sms_stores_no_code(make_app):
    app = make_app(**TwilioFake().config(TWILIO_BASE_URL=f"http://127.0.0.1:{free_port()}"))
    with app.app_context(), db.connection_context():
        JourneyRun.create(id_hash="run-1", journey="sign-in-with-code", step="verify",
                          expires_at=utcnow() + timedelta(minutes=15))
        with pytest.raises(DeliveryFailed, match="could not connect to Twilio"):
            authenticators.get("otp").issue("run-1", "alice@example.com", PHONE, "sms")
        assert OtpCode.select().count() == 0
