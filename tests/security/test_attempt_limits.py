"""Atomic attempt limits: counting and checking the budget is one operation, in memory and in
Redis, so a burst of parallel wrong passwords gets exactly as many password checks as the limit.

Redis is the real server on 127.0.0.1:6379; the tests use database 8 only and empty it.
"""

from __future__ import annotations

import html
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from argon2 import PasswordHasher

from models import AuditEvent, db
from security.throttle import BudgetSpent, FailureThrottle, Requester, SendBudget, throttle
from tests.accounts import create_local_user
from tests.conftest import FAST_ARGON2, SignIn, deployment

REDIS_URL = "redis://127.0.0.1:6379/8"
LIMIT = 10
PARALLEL = 50
WRONG = "not the password"
RIGHT = "the right password 1"
HASHER = PasswordHasher(time_cost=FAST_ARGON2["PASSWORD_TIME_COST"],
                        memory_cost=FAST_ARGON2["PASSWORD_MEMORY_COST"], parallelism=1)


def redis_db_8():
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    return client


@pytest.fixture(params=["memory", "redis"])
def storage_uri(request):
    if request.param == "memory":
        yield "memory://"
        return
    client = redis_db_8()
    client.flushdb()  # database 8 only
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def hash_checks(monkeypatch):
    """Every argon2id verification in the process, by the hash it was checked against."""
    calls: list[str] = []
    lock = threading.Lock()
    real = PasswordHasher.verify

    def counting(self, phc, password):
        with lock:
            calls.append(phc)
        return real(self, phc, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    return calls


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def burst(app, identifier: str, password: str = WRONG, times: int = PARALLEL) -> list[str]:
    """``times`` browsers post ``password`` for ``identifier`` at the same moment."""
    browsers = []
    for number in range(times):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"198.51.100.{number + 1}"  # from all over
        browser = SignIn(client)
        browser.start()
        browsers.append(browser)
    start = threading.Barrier(times)

    def attempt(browser: SignIn) -> str:
        start.wait()
        response = browser.post(identifier=identifier, password=password)
        assert response.status_code == 200, page_text(response)[:300]
        return page_text(response)

    with ThreadPoolExecutor(times) as pool:
        return list(pool.map(attempt, browsers))


def audit_count(app, event: str) -> int:
    with app.app_context(), db.connection_context():
        return AuditEvent.select().where(AuditEvent.event == event).count()


@pytest.mark.parametrize("where", ["local", "legacy"])
def test_parallel_wrong_passwords_count_each_and_stop_at_the_limit(make_app, tmp_path, storage_uri,
                                                                   hash_checks, where):
    export = tmp_path / "legacy.jsonl"
    legacy_hash = HASHER.hash(RIGHT)
    export.write_text(json.dumps({"id": "l1", "email": "lena@example.com",
                                  "password_hash": legacy_hash}) + "\n")
    app = make_app(DEPLOYMENT=deployment({"legacy": {"type": "hashes", "source": "jsonl",
                                                     "path": str(export)}}),
                   RATELIMIT_STORAGE_URI=storage_uri, SIGNIN_RATE_LIMIT="1000 per minute",
                   FAILED_SIGNINS_PER_IDENTIFIER=f"{LIMIT} per 15 minutes")
    identifier = "lena@example.com"
    real_hash = legacy_hash
    if where == "local":
        identifier = "lars@example.com"
        create_local_user(app, identifier, RIGHT)
        with app.app_context(), db.connection_context():
            from models import PasswordCredential
            real_hash = PasswordCredential.get().hash
    hash_checks.clear()

    answers = burst(app, identifier)

    assert sum("don't match" in page for page in answers) == LIMIT
    assert sum("Too many attempts" in page for page in answers) == PARALLEL - LIMIT
    # Exactly LIMIT attempts reached the user's hash; every other check was the decoy.
    assert hash_checks.count(real_hash) == LIMIT
    assert len(hash_checks) == PARALLEL
    assert audit_count(app, "signin.throttled") == PARALLEL - LIMIT
    with app.app_context():
        assert throttle().retry_after("password", identifier) > 0
    # Even the right password is refused now, unchecked.
    hash_checks.clear()
    [late] = burst(app, identifier, RIGHT, times=1)
    assert "Too many attempts" in late and real_hash not in hash_checks


def test_right_passwords_and_outages_are_given_back(make_app, tmp_path, storage_uri):
    export = tmp_path / "legacy.jsonl"
    export.write_text(json.dumps({"id": "l1", "email": "lena@example.com",
                                  "password_hash": HASHER.hash(RIGHT)}) + "\n")
    app = make_app(DEPLOYMENT=deployment({"legacy": {"type": "hashes", "source": "jsonl",
                                                     "path": str(export)}}),
                   RATELIMIT_STORAGE_URI=storage_uri, FAILED_SIGNINS_PER_IDENTIFIER="3 per hour")
    create_local_user(app, "lars@example.com", RIGHT)
    for _ in range(5):  # right passwords never spend the budget
        assert SignIn(app.test_client()).sign_in("lars@example.com", RIGHT).status_code == 303
    for _ in range(2):
        SignIn(app.test_client()).sign_in("lars@example.com", WRONG)
    assert SignIn(app.test_client()).sign_in("lars@example.com", RIGHT).status_code == 303
    third = SignIn(app.test_client()).sign_in("lars@example.com", WRONG)
    assert "don't match" in page_text(third)  # the third failure, the last one allowed
    refused = SignIn(app.test_client()).sign_in("lars@example.com", WRONG)
    assert "Too many attempts" in page_text(refused)

    export.rename(tmp_path / "gone.jsonl")  # the legacy store is gone: an outage
    for _ in range(5):
        outage = SignIn(app.test_client()).sign_in("lena@example.com", RIGHT)
        assert "We can't check your password right now" in page_text(outage)
    with app.app_context():
        assert throttle().retry_after("password", "lena@example.com") == 0


# -- the budgets themselves -------------------------------------------------------------------
def test_admit_counts_and_give_back_uncounts_exactly(storage_uri):
    budget = FailureThrottle(storage_uri, "3 per hour")
    assert [budget.admit("password", "x@example.com") for _ in range(4)] == [True] * 3 + [False]
    assert budget.retry_after("password", "x@example.com") > 0
    budget.give_back("password", "x@example.com")
    assert budget.retry_after("password", "x@example.com") == 0
    assert [budget.admit("password", "x@example.com") for _ in range(2)] == [True, False]
    assert budget.admit("password", "y@example.com")  # identifiers apart
    budget.clear("password", "x@example.com")
    assert budget.admit("password", "x@example.com")


def test_admit_is_atomic_under_a_thread_storm(storage_uri):
    budget = FailureThrottle(storage_uri, f"{LIMIT} per hour")
    start = threading.Barrier(PARALLEL)

    def one(_number: int) -> bool:
        start.wait()
        return budget.admit("password", "storm@example.com")

    with ThreadPoolExecutor(PARALLEL) as pool:
        assert sum(pool.map(one, range(PARALLEL))) == LIMIT


def test_a_send_takes_from_every_budget_or_from_none(storage_uri):
    sends = SendBudget(storage_uri, "2 per hour", "3 per hour", "5 per hour")
    office = Requester(session="run-1", ip="203.0.113.9")
    sends.take("otp_send", "a@example.com", office)
    sends.take("otp_send", "a@example.com", office)
    with pytest.raises(BudgetSpent) as spent:  # a's budget is spent...
        sends.take("otp_send", "a@example.com", office)
    assert spent.value.retry_after > 0
    # ...and that refusal took nothing from the IP's or the run's: one more each is left.
    sends.take("otp_send", "b@example.com", office)
    with pytest.raises(BudgetSpent):
        sends.take("otp_send", "c@example.com", office)  # the IP's 3
    charge = sends.take("otp_send", "c@example.com", Requester(session="run-2", ip="203.0.113.10"))
    sends.give_back(charge)  # a failed delivery
    assert sends.retry_after("otp_send", "c@example.com", Requester(ip="203.0.113.10")) == 0
    # A known device of a@ has a budget of its own, which no other IP or run can spend.
    mine = Requester(session="run-3", ip="203.0.113.9", device="device-of-a")
    sends.take("otp_send", "a@example.com", mine)
    sends.take("otp_send", "a@example.com", mine)
    with pytest.raises(BudgetSpent):
        sends.take("otp_send", "a@example.com", mine)


def test_only_memory_and_redis_are_accepted():
    with pytest.raises(ValueError, match="memory:// or redis://"):
        FailureThrottle("mongodb://127.0.0.1:27017", "3 per hour")
