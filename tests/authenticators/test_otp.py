"""One-time codes: issued once, hashed at rest, 10 minutes, 5 wrong entries, 5 sends an hour.

Mail goes through a real SMTP server (aiosmtpd); the code is read from the message received.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

import authenticators
from authenticators import otp as otp_module
from authenticators import otp_delivery
from authenticators.otp import DeliveryFailed, SendThrottled
from authenticators.otp_delivery import LogSender
from models import JourneyRun, OtpCode, db, utcnow
from tests.authenticators.mail import MailServer, free_port

ALICE = "alice@example.com"


@pytest.fixture
def mail():
    with MailServer() as server:
        yield server


@pytest.fixture
def otp_app(make_app, mail):
    return make_app(**mail.config())


def new_run(name: str = "run-1") -> str:
    JourneyRun.create(id_hash=name, journey="sign-in-with-code", step="verify",
                      expires_at=utcnow() + timedelta(minutes=15))
    return name


def test_a_code_reaches_the_mailbox_and_only_its_hmac_is_stored(otp_app, mail):
    with otp_app.app_context(), db.connection_context():
        run = new_run()
        authenticators.get("otp").issue(run, ALICE, ALICE)
        code = mail.last_code(ALICE)
        stored = OtpCode.get(OtpCode.run == run)
        assert code not in stored.code_hash and len(stored.code_hash) == 64
        assert stored.expires_at - utcnow() <= timedelta(minutes=10)
        assert mail.received[-1]["From"] == "Ferry <ferry@example.com>"
        assert authenticators.get("otp").verify(run, code) == "ok"


def test_a_code_works_once(otp_app, mail):
    with otp_app.app_context(), db.connection_context():
        run = new_run()
        otp = authenticators.get("otp")
        otp.issue(run, ALICE, ALICE)
        code = mail.last_code(ALICE)
        assert otp.verify(run, code) == "ok"
        assert otp.verify(run, code) == "used"


def test_a_code_is_worthless_in_another_run(otp_app, mail):
    with otp_app.app_context(), db.connection_context():
        mine, theirs = new_run("mine"), new_run("theirs")
        otp = authenticators.get("otp")
        otp.issue(mine, ALICE, ALICE)
        otp.issue(theirs, "bob@example.com", "bob@example.com")
        assert otp.verify(theirs, mail.last_code(ALICE)) == "wrong"
        assert otp.verify(mine, mail.last_code(ALICE)) == "ok"


def test_five_wrong_entries_kill_the_code(otp_app, mail):
    with otp_app.app_context(), db.connection_context():
        run = new_run()
        otp = authenticators.get("otp")
        otp.issue(run, ALICE, ALICE)
        code = mail.last_code(ALICE)
        wrong = f"{(int(code) + 1) % 10**6:06d}"
        assert [otp.verify(run, wrong) for _ in range(5)] == ["wrong"] * 4 + ["dead"]
        assert otp.verify(run, code) == "dead"


def test_a_code_expires_after_ten_minutes(otp_app, mail, monkeypatch):
    with otp_app.app_context(), db.connection_context():
        run = new_run()
        otp = authenticators.get("otp")
        otp.issue(run, ALICE, ALICE)
        later = utcnow() + timedelta(minutes=10, seconds=1)
        monkeypatch.setattr(otp_module, "utcnow", lambda: later)
        assert otp.verify(run, mail.last_code(ALICE)) == "expired"


def test_resends_are_throttled_and_never_reset_the_failures(otp_app, mail):
    with otp_app.app_context(), db.connection_context():
        run = new_run()
        otp = authenticators.get("otp")
        otp.issue(run, ALICE, ALICE)
        first = mail.last_code(ALICE)
        for _ in range(3):
            otp.verify(run, f"{(int(first) + 1) % 10**6:06d}")
        for _ in range(4):
            otp.issue(run, ALICE, ALICE)
        assert OtpCode.get(OtpCode.run == run).failures == 3
        with pytest.raises(SendThrottled) as throttled:
            otp.issue(run, ALICE, ALICE)
        assert 0 < throttled.value.retry_after <= 3600
        assert len(mail.received) == 5
        latest = mail.last_code(ALICE)
        wrong = f"{(int(latest) + 1) % 10**6:06d}"
        # Three failures came along with the resends: two more kill the newest code.
        assert [otp.verify(run, wrong) for _ in range(2)] == ["wrong", "dead"]
        assert otp.verify(run, latest) == "dead"


def test_an_smtp_server_that_is_down_consumes_nothing(make_app):
    app = make_app(OTP_SENDER="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(),
                   SMTP_SECURITY="none", SMTP_TIMEOUT=2)
    with app.app_context(), db.connection_context():
        run = new_run()
        otp = authenticators.get("otp")
        for _ in range(6):  # more than the hourly budget: nothing was counted
            with pytest.raises(DeliveryFailed, match="127.0.0.1"):
                otp.issue(run, ALICE, ALICE)
        assert OtpCode.get_or_none(OtpCode.run == run) is None


def test_the_log_sender_is_the_default_for_the_demo(app, caplog):
    with app.app_context(), db.connection_context():
        otp = authenticators.get("otp")
        assert isinstance(otp.sender, LogSender)
        run = new_run()
        with caplog.at_level("WARNING", logger="authenticators.otp_delivery"):
            otp.issue(run, ALICE, ALICE)
        code = caplog.records[-1].args[0]
        assert "development only" in caplog.records[-1].getMessage()
        assert otp.verify(run, code) == "ok"


def test_an_unknown_identifier_gets_a_code_nobody_received(otp_app, mail):
    with otp_app.app_context(), db.connection_context():
        run = new_run()
        otp = authenticators.get("otp")
        otp.issue(run, "nobody@example.com", None)
        assert mail.received == []
        assert OtpCode.get(OtpCode.run == run).code_hash  # stored like a real one
        assert otp.verify(run, "123456") != "missing"


def test_not_sending_waits_like_sending_and_fails_while_sending_fails(make_app, monkeypatch):
    """An unknown address must not answer faster than a real send, nor succeed during an outage."""
    waits: list[float] = []
    monkeypatch.setattr(otp_delivery, "pause", waits.append)  # record, don't wait
    with MailServer() as mail:
        app = make_app(**mail.config())
        with app.app_context(), db.connection_context():
            otp = authenticators.get("otp")
            otp.issue(new_run("known"), ALICE, ALICE)  # a real send through SMTP
            average = otp.timing["email"].average
            assert average is not None and average > 0
            otp.issue(new_run("unknown"), "nobody@example.com", None)
            assert len(waits) == 1 and 0.85 * average <= waits[0] <= 1.15 * average
            assert len(mail.received) == 1

    down = make_app(OTP_SENDER="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(),
                    SMTP_SECURITY="none", SMTP_TIMEOUT=2)
    with down.app_context(), db.connection_context():
        otp = authenticators.get("otp")
        with pytest.raises(DeliveryFailed):
            otp.issue(new_run("known"), ALICE, ALICE)
        unknown_run = new_run("unknown")
        with pytest.raises(DeliveryFailed, match="imitated"):
            otp.issue(unknown_run, "nobody@example.com", None)
        assert OtpCode.get_or_none(OtpCode.run == unknown_run) is None  # nothing stored either
