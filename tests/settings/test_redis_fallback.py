"""Redis away: the per-IP request limits (flask-limiter) carry on in the process, say so once,
and go back to Redis when it answers again.

Only the limiter is tested here. The per-identifier throttle and the code-send budgets
(``security/throttle.py``) sit on the same storage but talk to it themselves.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from security import limiter
from tests.blueprints.test_health import RedisServer

ROOT = Path(__file__).resolve().parents[2]
NOWHERE = "redis://127.0.0.1:1/0"  # nothing listens on port 1
FALLING_BACK = "Rate limit storage unreachable - falling back to in-memory storage"


@pytest.fixture(autouse=True)
def limiter_storage_alive():
    """The limiter is one object for every app of the process, and remembers a dead storage
    across apps: start each test with it alive, and leave it so."""
    limiter._storage_dead = False
    yield
    limiter._storage_dead = False


def _token_posts(client, count: int) -> list[int]:
    """Status of ``count`` token requests (no client credentials: 401 while the limit allows)."""
    return [client.post("/token", data={"grant_type": "authorization_code"}).status_code
            for _ in range(count)]


def _fallbacks(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.getMessage() == FALLING_BACK]


def test_with_redis_unreachable_limits_count_in_memory_and_say_so_once(make_app, caplog):
    client = make_app(RATELIMIT_STORAGE_URI=NOWHERE, TOKEN_RATE_LIMIT="3 per minute").test_client()
    with caplog.at_level(logging.INFO, logger="flask-limiter"):
        statuses = _token_posts(client, 6)
    assert statuses == [401, 401, 401, 429, 429, 429]
    fallbacks = _fallbacks(caplog)
    assert len(fallbacks) == 1 and fallbacks[0].levelno == logging.WARNING


def test_the_fallback_warning_reaches_stderr_with_no_logging_configured(tmp_path):
    """As Ferry's own warnings do under gunicorn: Python's last-resort handler prints them."""
    script = f"""
from app import create_app
app = create_app({{"TESTING": True, "SECRET_KEY": "k", "ISSUER": "http://localhost",
                  "CONFIG_FILE": None, "DATABASE_URL": "sqlite:///{tmp_path}/ferry.db",
                  "RATELIMIT_STORAGE_URI": "{NOWHERE}", "DEPLOYMENT": {{"apps": {{}}}}}})
client = app.test_client()
print([client.post("/token", data={{"grant_type": "x"}}).status_code for _ in range(3)])
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[400, 400, 400]"
    assert done.stderr.count(FALLING_BACK) == 1, done.stderr


@pytest.mark.slow
def test_redis_going_away_and_coming_back(make_app, caplog):
    server = RedisServer()
    try:
        client = make_app(RATELIMIT_STORAGE_URI=server.url,
                          TOKEN_RATE_LIMIT="1000 per minute").test_client()
        watcher = redis.Redis(port=server.port)
        assert _token_posts(client, 2) == [401, 401]
        assert watcher.keys("LIMITS*"), "the limits were not counted in Redis"
        watcher.flushall()

        server.stop()
        with caplog.at_level(logging.INFO, logger="flask-limiter"):
            assert _token_posts(client, 5) == [401] * 5  # no 500: counted in memory meanwhile
            assert len(_fallbacks(caplog)) == 1

            server.start()
            # flask-limiter looks at Redis again after a pause that doubles each time (1 s, 2 s,
            # ... 32 s at most); keep asking until the counts land in Redis again.
            deadline = time.monotonic() + 70
            while not watcher.keys("LIMITS*") and time.monotonic() < deadline:
                assert _token_posts(client, 1) == [401]
                time.sleep(0.25)
        assert watcher.keys("LIMITS*"), "the limiter never went back to Redis"
        assert "Rate limit storage recovered" in caplog.text
        assert len(_fallbacks(caplog)) == 1
        watcher.close()
    finally:
        server.stop()
