"""The circuit breaker, in process and shared through Redis by every worker and server.

Real parts only: the ``ropc`` connector against :class:`tests.peers.bad_legacy.BadLegacy`,
Ferry apps built with ``make_app`` (two of them sharing Redis database 7, which these tests
flush and nobody else uses), a Redis that does not answer (port 1), and in the slowest test two
gunicorn servers on a PostgreSQL database of their own. Every claim is counted at the peer:
an open breaker answers without a request reaching the legacy IdP.
"""

from __future__ import annotations

import html
import logging
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from urllib.parse import urljoin

import psycopg
import pytest
import redis
import requests

import connectors
from connectors import LegacyUnavailable
from connectors.breaker import state
from tests.conftest import deployment
from tests.connectors.conftest import UNAVAILABLE
from tests.connectors.contract import build_connector
from tests.peers.bad_legacy import Answer, BadLegacy, healthy, ropc_table

ADA, PASSWORD = "ada@example.com", "correct horse battery staple"
DOWN = Answer(503, b'{"error": "temporarily_unavailable"}')
REDIS_DB = 7


@pytest.fixture(scope="module")
def redis_server() -> Iterator[str]:
    """``host:port`` of the Redis on 127.0.0.1:6379 if it answers, else of a throwaway one."""
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()
        yield "127.0.0.1:6379"
        return
    except redis.RedisError:
        pass
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port),  # noqa: S603, S607
                               "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                redis.Redis(host="127.0.0.1", port=port).ping()
                break
            except redis.RedisError:
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def redis_url(redis_server) -> Iterator[str]:
    """Redis database 7, empty before and after the test."""
    url = f"redis://{redis_server}/{REDIS_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()


@pytest.fixture
def bad():
    with BadLegacy() as idp:
        yield healthy(idp)


def legacy_of(app):
    with app.app_context():
        return connectors.get("legacy")


def wait_for_state(connector, wanted: str, timeout: float = 10.0) -> None:
    """Poll until the breaker reaches ``wanted`` (the reset interval is the breaker's clock)."""
    give_up = time.monotonic() + timeout
    while state(connector) != wanted:
        assert time.monotonic() < give_up, f"the breaker stayed {state(connector)}"
        time.sleep(0.02)


# -- one process -----------------------------------------------------------------------------
def test_wrong_passwords_keep_the_breaker_closed_and_outages_open_it(app, bad):
    bad.routes["/token"] = Answer(400, b'{"error": "invalid_grant"}')
    connector = build_connector(app, ropc_table(bad, breaker_failures=2, breaker_reset=60))
    for _ in range(4):
        with pytest.raises(connectors.InvalidCredentials):
            connector.check_password(ADA, "wrong")
    assert state(connector) == "closed"

    bad.routes["/token"] = DOWN
    for _ in range(2):
        with pytest.raises(LegacyUnavailable, match="503"):
            connector.check_password(ADA, PASSWORD)
    assert state(connector) == "open"
    with pytest.raises(LegacyUnavailable, match="circuit breaker open"):
        connector.check_password(ADA, PASSWORD)
    assert len(bad.seen("/token")) == 6


@pytest.mark.parametrize("shared", [False, True], ids=["in-process", "redis"])
def test_half_open_lets_exactly_one_of_20_concurrent_calls_through(make_app, bad, shared,
                                                                   request):
    """Twenty sign-ins arrive together after the reset interval (in Redis: at two app
    instances): one is the probe, nineteen fail fast; the probe's answer decides."""
    # The reset outlasts the checks of "open" below on a slow machine (they follow the probe's
    # failure by milliseconds; 0.3 s was once too short to be sure).
    table = ropc_table(bad, breaker_failures=1, breaker_reset=2)
    config = {"RATELIMIT_STORAGE_URI": request.getfixturevalue("redis_url")} if shared else {}
    apps = [make_app(DEPLOYMENT=deployment({"legacy": table}), **config)
            for _ in range(2 if shared else 1)]
    instances = [legacy_of(app) for app in apps]
    bad.routes["/token"] = DOWN
    with pytest.raises(LegacyUnavailable):
        instances[0].check_password(ADA, PASSWORD)
    wait_for_state(instances[-1], "half_open")

    bad.routes["/token"] = Answer(hang=True)  # the probe is held until its 1 s deadline
    before = len(bad.seen("/token"))
    start, reasons = threading.Barrier(20), []

    def sign_in(connector) -> None:
        start.wait()
        try:
            connector.check_password(ADA, PASSWORD)
        except LegacyUnavailable as error:
            reasons.append(error.reason)

    threads = [threading.Thread(target=sign_in, args=(instances[n % len(instances)],))
               for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert len(bad.seen("/token")) - before == 1, "more than one probe reached the legacy IdP"
    assert sum("trial call is under way" in reason for reason in reasons) == 19
    assert sum("deadline" in reason for reason in reasons) == 1
    assert all(state(connector) == "open" for connector in instances)

    healthy(bad)
    wait_for_state(instances[-1], "half_open")
    assert instances[-1].check_password(ADA, PASSWORD).subject == "legacy-7"
    assert all(state(connector) == "closed" for connector in instances)


# -- shared through Redis --------------------------------------------------------------------
@pytest.mark.parametrize("shared", [True, False], ids=["redis", "in-process-control"])
def test_a_breaker_one_app_opened_is_open_in_the_other(make_app, bad, shared, request):
    table = ropc_table(bad, breaker_failures=2, breaker_reset=60)
    config = {"RATELIMIT_STORAGE_URI": request.getfixturevalue("redis_url")} if shared else {}
    one, two = (legacy_of(make_app(DEPLOYMENT=deployment({"legacy": table}), **config))
                for _ in range(2))
    bad.routes["/token"] = DOWN

    for _ in range(2):
        with pytest.raises(LegacyUnavailable, match="503"):
            one.check_password(ADA, PASSWORD)
    assert state(one) == "open"

    if shared:
        assert state(two) == "open"
        with pytest.raises(LegacyUnavailable, match="circuit breaker open"):
            two.check_password(ADA, PASSWORD)
        assert len(bad.seen("/token")) == 2, "the second app called the legacy IdP"
    else:  # the control: without Redis each process learns the outage by itself
        assert state(two) == "closed"
        with pytest.raises(LegacyUnavailable, match="503"):
            two.check_password(ADA, PASSWORD)
        assert len(bad.seen("/token")) == 3


def test_an_unreachable_redis_falls_back_to_the_process_logs_once_and_still_works(
        app, bad, caplog):
    config = {**app.config, "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0"}
    table = ropc_table(bad, breaker_failures=2, breaker_reset=2)  # outlasts the checks of "open"
    with app.app_context():
        connector = connectors.build_connectors({"legacy": table}, config)["legacy"]
    caplog.set_level(logging.WARNING, logger="connectors.breaker")

    assert connector.check_password(ADA, PASSWORD).subject == "legacy-7"
    bad.routes["/token"] = DOWN
    for _ in range(2):
        with pytest.raises(LegacyUnavailable, match="503"):
            connector.check_password(ADA, PASSWORD)
    assert state(connector) == "open"
    for _ in range(5):
        with pytest.raises(LegacyUnavailable, match="circuit breaker open"):
            connector.check_password(ADA, PASSWORD)
    assert len(bad.seen("/token")) == 3  # one good, two failed; the open breaker held

    healthy(bad)
    wait_for_state(connector, "half_open")
    assert connector.check_password(ADA, PASSWORD).subject == "legacy-7"
    assert state(connector) == "closed"

    notices = [r for r in caplog.records if "does not answer" in r.getMessage()]
    assert len(notices) == 1, [r.getMessage() for r in notices]
    assert "127.0.0.1:1/0" in notices[0].getMessage()


# -- two gunicorn servers on one PostgreSQL database and one Redis ---------------------------
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
DATABASE = "ferry_guard_test"
APP_ID, APP_SECRET, REDIRECT = "guard-app", "guard-app-secret-0123456789", "http://127.0.0.1:9/cb"


@pytest.fixture
def guard_database() -> Iterator[str]:
    """A PostgreSQL database of this test's own, created and dropped here."""
    try:
        admin = psycopg.connect(POSTGRES, autocommit=True, connect_timeout=3)
    except psycopg.Error as error:
        pytest.skip(f"no PostgreSQL at {POSTGRES}: {error}")
    with admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DATABASE}")
        try:
            yield POSTGRES.rsplit("/", 1)[0] + "/" + DATABASE
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def ferry_config(path, port: int, database: str, redis_url: str, idp: BadLegacy) -> None:
    path.write_text(f"""\
[ferry]
issuer = "http://127.0.0.1:{port}"
secret_key = "guard-test-secret-key-0123456789"
database_url = "{database}"
ratelimit_storage_uri = "{redis_url}"
log_level = "WARNING"
signin_rate_limit = "1000 per minute"
password_time_cost = 1
password_memory_cost = 8192

[connectors.legacy]
type = "ropc"
token_url = "{idp.url('/token')}"
userinfo_url = "{idp.url('/userinfo')}"
client_id = "ferry"
client_secret = "bad-legacy-client-secret"
breaker_failures = 2
breaker_reset = 60
deadline = 2

[apps.{APP_ID}]
name = "Guard test"
client_secret = "{APP_SECRET}"
redirect_uris = ["{REDIRECT}"]
""", encoding="utf-8")


def sign_in_over_http(base: str, identifier: str) -> requests.Response:
    """A fresh browser: /authorize (the sign-in page), and the password posted to /login."""
    from tests.conftest import form_fields, pkce_pair

    with requests.Session() as browser:
        _verifier, challenge = pkce_pair()
        started = browser.get(base + "/authorize", params={
            "response_type": "code", "client_id": APP_ID, "redirect_uri": REDIRECT,
            "scope": "openid email", "state": secrets.token_urlsafe(8),
            "nonce": secrets.token_urlsafe(8), "code_challenge": challenge,
            "code_challenge_method": "S256"}, allow_redirects=False, timeout=10)
        assert started.status_code == 200 and 'action="/login"' in started.text, started.text[:300]
        return browser.post(urljoin(base, "/login"), data={
            **form_fields(started.text), "identifier": identifier, "password": PASSWORD},
            allow_redirects=False, timeout=30)


@pytest.mark.postgres
@pytest.mark.slow
def test_an_outage_server_a_saw_makes_server_b_refuse_without_calling(
        bad, redis_url, guard_database, tmp_path):
    from bench.ferry_server import Gunicorn, free_port

    bad.routes["/token"] = DOWN
    servers = []
    try:
        for name in ("a", "b"):
            port, instance = free_port(), tmp_path / name
            instance.mkdir()
            ferry_config(instance / "ferry.toml", port, guard_database, redis_url, bad)
            server = Gunicorn({"FERRY_CONFIG": str(instance / "ferry.toml"),
                               "FERRY_INSTANCE_PATH": str(instance)}, port, 2,
                              instance / "gunicorn.log", options=["-k", "gthread", "--threads", "4"])
            servers.append(server)
            with requests.Session() as probe:
                server.wait_ready(probe)  # one after the other: the first migrates the schema
        a, b = servers

        for number in range(2):  # two first sign-ins at server A meet the outage
            answer = sign_in_over_http(a.base, f"user{number}@example.com")
            assert answer.status_code == 200 and UNAVAILABLE in html.unescape(answer.text)
        assert len(bad.seen("/token")) == 2

        for number in range(3):  # server B (either of its workers) knows at once
            answer = sign_in_over_http(b.base, f"other{number}@example.com")
            assert answer.status_code == 200 and UNAVAILABLE in html.unescape(answer.text)
        assert len(bad.seen("/token")) == 2, "server B called the legacy IdP that A saw down"
    finally:
        for server in servers:
            server.stop()
