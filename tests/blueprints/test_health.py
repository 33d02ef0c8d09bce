"""``/healthz`` and ``/readyz`` against a real PostgreSQL that stops and a real Redis that dies."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest
import redis

from models import SigningKey, db
from tests.models.test_database_restart import Cluster


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """``redis-server`` on a free port, in the foreground, stopped by its PID."""

    def __init__(self) -> None:
        if not shutil.which("redis-server"):
            pytest.skip("redis-server is not installed")
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self) -> None:
        """Start (again, on the same port) and wait until it answers PING."""
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        try:
            for _ in range(100):
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    time.sleep(0.05)
            raise RuntimeError("redis-server did not answer")
        finally:
            client.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def redis_server():
    server = RedisServer()
    yield server
    server.stop()


def test_healthz_says_ok_and_is_never_cached(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    assert client.post("/healthz").status_code == 405


def test_healthz_borrows_no_connection(app, client, monkeypatch):
    lent = []
    real_connect = db.obj._connect
    monkeypatch.setattr(db.obj, "_connect", lambda: lent.append(1) or real_connect())
    assert client.get("/healthz").status_code == 200
    assert lent == []
    assert client.get("/readyz").status_code == 200 and lent == [1]


def test_readyz_passes_database_and_signing_key_without_redis(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"status": "ready", "checks": {
        "database": "ok", "signing_key": "ok", "redis": "not configured"}}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_fails_without_an_active_signing_key(app, client):
    with db.connection_context():
        SigningKey.update(active=False).execute()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["failed"] == ["signing_key"]
    assert response.get_json()["checks"]["signing_key"] == "missing"


def test_readyz_follows_redis_going_away(make_app, redis_server):
    client = make_app(RATELIMIT_STORAGE_URI=redis_server.url).test_client()
    assert client.get("/readyz").get_json()["checks"]["redis"] == "ok"

    redis_server.stop()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["failed"] == ["redis"]
    assert "127.0.0.1" not in response.get_data(as_text=True)  # no address given away
    assert client.get("/healthz").status_code == 200


def test_readyz_with_nothing_listening_at_the_redis_address(make_app):
    client = make_app(RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0").test_client()
    response = client.get("/readyz")
    assert response.status_code == 503 and response.get_json()["checks"]["redis"] == "unavailable"


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_stopping_fails_readyz_only_and_starting_again_restores_it(make_app):
    cluster = Cluster()
    cluster.start()
    try:
        client = make_app(cluster.url).test_client()
        assert client.get("/readyz").status_code == 200

        cluster.stop()
        # This app's very first request to most of Ferry would touch the database; not these.
        assert client.get("/healthz").status_code == 200
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.get_json() == {"status": "unavailable", "failed": ["database"], "checks": {
            "database": "unavailable", "signing_key": "unknown", "redis": "not configured"}}
        assert "Connection refused" not in response.get_data(as_text=True)

        cluster.start()
        assert client.get("/readyz").status_code == 200
    finally:
        cluster.remove()
