"""Redis away: the password-attempt throttle and the code-send budgets count in the process, say
so once, and go back to Redis when it answers again (``security/throttle.py``).

Two Redis that are not there: ``redis://127.0.0.1:1/0``, where nothing listens, and a real
``redis-server`` on a free port that the test stops and starts again.
"""

from __future__ import annotations

import html
import logging
import time

import pytest
import redis

from security import throttle as throttle_module
from security.throttle import FailureThrottle, SendBudget
from tests.accounts import create_local_user
from tests.authenticators.mail import MailServer
from tests.blueprints.test_health import RedisServer
from tests.conftest import APP_REDIRECT, SPA_REDIRECT, SignIn, deployment

NOWHERE = "redis://127.0.0.1:1/0"  # nothing listens on port 1
FALLING_BACK = "budgets count in each process until it does"
BACK = "budgets are shared again"
RIGHT, WRONG = "the right password 1", "not the password"
TOO_MANY = "Too many attempts"
SENT = "If an account exists for"


@pytest.fixture(autouse=True)
def fresh_redis_state():
    """The counts of a Redis are one per process, and remember that it went away: start each
    test with none, and leave none."""
    throttle_module._shared_counts.clear()
    yield
    throttle_module._shared_counts.clear()


@pytest.fixture
def mail():
    with MailServer() as server:
        yield server


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def notices(caplog, words: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records
            if record.name == "security.throttle" and words in record.getMessage()]


def password_sign_in(app, password: str):
    return SignIn(app.test_client()).sign_in("lars@example.com", password)


def code_sign_in(app, mail: MailServer, identifier: str):
    """authorize -> e-mail page -> "Send me a code" -> the code; the last response."""
    walker = SignIn(app.test_client())
    walker.start()
    asked = walker.post(identifier=identifier)
    assert asked.status_code == 200, text(asked)[:500]
    if SENT not in text(asked):
        return asked
    return walker.post(code=mail.last_code(identifier))


def test_with_redis_unreachable_sign_ins_and_sends_work_and_limits_hold(make_app, mail, caplog):
    tables = deployment()
    tables["apps"]["spa"]["journey"] = "sign-in-with-code"
    app = make_app(DEPLOYMENT=tables, RATELIMIT_STORAGE_URI=NOWHERE,
                   FAILED_SIGNINS_PER_IDENTIFIER="3 per hour", OTP_SENDS_PER_IDENTIFIER="2 per hour",
                   **mail.config())
    create_local_user(app, "lars@example.com", RIGHT)
    create_local_user(app, "cleo@example.com", "unused password 1")

    with caplog.at_level(logging.INFO):
        assert password_sign_in(app, RIGHT).status_code == 303  # no 500
        wrong = [text(password_sign_in(app, WRONG)) for _ in range(4)]
        late = text(password_sign_in(app, RIGHT))

        # The code journey is the public app's here; each browser is a new one (no known device).
        sends = []
        for _ in range(3):
            walker = SignIn(app.test_client(), client_id="spa", redirect_uri=SPA_REDIRECT,
                            client_secret=None)
            walker.start()
            sends.append(walker.post(identifier="cleo@example.com"))

    assert ["don't match" in page for page in wrong] == [True, True, True, False]
    assert TOO_MANY in wrong[3] and TOO_MANY in late  # counted in memory: the limit holds
    assert [SENT in text(page) for page in sends] == [True, True, False]
    assert TOO_MANY in text(sends[2])
    assert sum(1 for message in mail.received
               if message["X-Envelope-To"] == "cleo@example.com") == 2
    [warning] = notices(caplog, FALLING_BACK)
    assert warning.levelno == logging.WARNING and "127.0.0.1:1/0" in warning.getMessage()


def test_a_code_sign_in_works_with_redis_unreachable(make_app, mail, caplog):
    tables = deployment()
    tables["apps"]["test-app"]["journey"] = "sign-in-with-code"
    app = make_app(DEPLOYMENT=tables, RATELIMIT_STORAGE_URI=NOWHERE, **mail.config())
    create_local_user(app, "cleo@example.com", "unused password 1")
    with caplog.at_level(logging.INFO):
        done = code_sign_in(app, mail, "cleo@example.com")
        again = code_sign_in(app, mail, "cleo@example.com")
    for response in (done, again):
        assert response.status_code == 303 and response.headers["Location"].startswith(APP_REDIRECT)
    assert len(notices(caplog, FALLING_BACK)) == 1


def test_the_send_budget_gives_back_in_memory_while_redis_is_away(caplog):
    sends = SendBudget(NOWHERE, "1 per hour", "10 per hour", "10 per hour")
    with caplog.at_level(logging.INFO):
        charge = sends.take("otp_send", "a@example.com")
        assert all(not shared for _pool, _key, shared in charge.taken)
        sends.give_back(charge)  # a failed delivery: nothing spent
        sends.take("otp_send", "a@example.com")
        assert sends.retry_after("otp_send", "a@example.com") > 0
    assert len(notices(caplog, FALLING_BACK)) == 1


@pytest.mark.slow
def test_redis_going_away_and_coming_back(make_app, caplog, monkeypatch):
    monkeypatch.setattr(throttle_module, "REDIS_RETRY", 0.3)
    server = RedisServer()
    watcher = redis.Redis(port=server.port)
    try:
        app = make_app(RATELIMIT_STORAGE_URI=server.url, FAILED_SIGNINS_PER_IDENTIFIER="5 per hour")
        create_local_user(app, "lars@example.com", RIGHT)
        assert "don't match" in text(password_sign_in(app, WRONG))
        [key] = watcher.keys("LIMITS*")
        assert watcher.llen(key) == 1  # counted in Redis

        server.stop()
        with caplog.at_level(logging.INFO):
            for _ in range(3):  # no 500, and counted in memory meanwhile
                assert "don't match" in text(password_sign_in(app, WRONG))
            assert password_sign_in(app, RIGHT).status_code == 303
            assert len(notices(caplog, FALLING_BACK)) == 1

            server.start()  # empty: the old count went with the process
            time.sleep(0.4)  # past REDIS_RETRY: the next request tries Redis again
            assert "don't match" in text(password_sign_in(app, WRONG))
            assert password_sign_in(app, RIGHT).status_code == 303
        [key] = watcher.keys("LIMITS*")
        assert watcher.llen(key) == 1  # the wrong one counts in Redis, the right one given back
        assert len(notices(caplog, BACK)) == 1
        assert len(notices(caplog, FALLING_BACK)) == 1
    finally:
        watcher.close()
        server.stop()


@pytest.mark.slow
def test_a_refund_goes_to_the_store_that_counted_the_attempt(monkeypatch):
    monkeypatch.setattr(throttle_module, "REDIS_RETRY", 0.3)
    server = RedisServer()
    watcher = redis.Redis(port=server.port)
    try:
        budget = FailureThrottle(server.url, "3 per hour")
        server.stop()
        in_memory = budget.admission("password", "x@example.com")
        assert in_memory is not None and not in_memory.shared
        server.start()
        time.sleep(0.4)
        in_redis = budget.admission("password", "x@example.com")
        assert in_redis is not None and in_redis.shared
        [key] = watcher.keys("LIMITS*")

        budget.give_back("password", "x@example.com", in_memory)
        assert watcher.llen(key) == 1  # Redis keeps the attempt it counted
        assert budget.retry_after("password", "x@example.com") == 0
        budget.give_back("password", "x@example.com", in_redis)
        assert watcher.llen(key) == 0
    finally:
        watcher.close()
        server.stop()
