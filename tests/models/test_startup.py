"""Start-up on many servers at once, the ``db`` commands, and issuers a passkey cannot work on.

Several servers (gunicorn workers, machines) starting together on an empty database must all
come up: each one migrates, writes the configured apps and makes sure a signing key exists, and
any of those done twice at once used to cost a worker a duplicate key (and gunicorn then stops
the whole server). The race test starts real processes, each importing Ferry first and then
calling ``create_app`` at the same instant on a database of its own making (PostgreSQL: a
``ferry_ops_<random>`` database created and dropped here; SQLite: a fresh file), round after
round.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from authenticators.passkey import check_rp_id
from settings.errors import ConfigError
from tests.postgres import _admin_url

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 4
ROUNDS = 12

# One server: import Ferry, say "ready", then for each JSON line {"url", "apps", "config"} build
# the app and answer one JSON line ({"ok": true} or the error).
_SERVER = r"""
import json, sys, traceback
from app import create_app
from models import database

print("ready", flush=True)
for line in sys.stdin:
    order = json.loads(line)
    config = {
        "TESTING": True, "SECRET_KEY": "startup-test-key", "ISSUER": "http://localhost",
        "CONFIG_FILE": None, "DATABASE_URL": order["url"],
        "PASSWORD_TIME_COST": 1, "PASSWORD_MEMORY_COST": 8192,
        "DEPLOYMENT": {"apps": order["apps"]}, **order["config"],
    }
    try:
        create_app(config)
        answer = {"ok": True}
    except Exception as error:
        answer = {"ok": False, "error": f"{type(error).__name__}: {error}",
                  "trace": traceback.format_exc()[-1500:]}
    database.shutdown()
    print(json.dumps(answer), flush=True)
"""


def _apps(*client_ids: str) -> dict:
    return {client_id: {"name": client_id, "client_secret": f"{client_id}-secret-0123456789",
                        "redirect_uris": [f"http://localhost:8000/{client_id}/cb"]}
            for client_id in client_ids}


class Servers:
    """``count`` processes with Ferry imported, started together by one line each."""

    def __init__(self, count: int) -> None:
        self.processes = [
            subprocess.Popen([sys.executable, "-c", _SERVER], cwd=ROOT, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
            for _ in range(count)
        ]
        for process in self.processes:
            assert process.stdout.readline().strip() == "ready"

    def start(self, url: str, apps: dict, **config) -> list[dict]:
        """Every process builds the app on ``url`` at once; their answers."""
        line = json.dumps({"url": url, "apps": apps, "config": config}) + "\n"
        for process in self.processes:
            process.stdin.write(line)
        for process in self.processes:  # written first, flushed together: the same instant
            process.stdin.flush()
        return [json.loads(process.stdout.readline()) for process in self.processes]

    def stop(self) -> None:
        for process in self.processes:
            process.stdin.close()
            process.wait(timeout=30)
            process.stdout.close()


@pytest.fixture(scope="module")
def servers():
    started = Servers(PROCESSES)
    yield started
    started.stop()


@pytest.fixture
def fresh_postgres():
    """Make fresh PostgreSQL databases of this test's own; all dropped at the end."""
    admin = _admin_url()
    made: list[str] = []

    def make() -> str:
        name = f"ferry_ops_{secrets.token_hex(4)}"
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return admin.rsplit("/", 1)[0] + f"/{name}"

    yield make
    with psycopg.connect(admin, autocommit=True) as connection:
        for name in made:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _failures(answers: list[dict]) -> list[str]:
    return [answer["trace"] for answer in answers if not answer["ok"]]


def _count(url: str, sql: str) -> int:
    with psycopg.connect(url) as connection:
        return connection.execute(sql).fetchone()[0]


@pytest.mark.postgres
@pytest.mark.slow
def test_servers_starting_together_on_an_empty_postgres_database_all_come_up(servers, fresh_postgres):
    for _ in range(ROUNDS):
        url = fresh_postgres()
        answers = servers.start(url, _apps("shop", "blog"))
        assert not _failures(answers), _failures(answers)[0]
        assert _count(url, 'SELECT count(*) FROM "oauth_client"') == 2
        # One key per algorithm (RS256, ES256), however many servers made them at once.
        assert _count(url, 'SELECT count(*) FROM "signing_key" WHERE "active"') == 2
        assert _count(url, 'SELECT count(DISTINCT "alg") FROM "signing_key"') == 2
        assert _count(url, 'SELECT count(*) FROM "schema_version"') == len(_migrations())


@pytest.mark.postgres
@pytest.mark.slow
def test_a_rolling_restart_that_adds_an_app_comes_up_on_postgres(servers, fresh_postgres):
    """The new apps come first in the file: the row lock of an app already there would
    otherwise queue the servers' transactions one behind the other and hide the race."""
    for _ in range(ROUNDS):
        url = fresh_postgres()
        assert not _failures(servers.start(url, _apps("shop")))
        answers = servers.start(url, _apps("blog", "forum", "shop"))
        assert not _failures(answers), _failures(answers)[0]
        assert _count(url, 'SELECT count(*) FROM "oauth_client"') == 3


@pytest.mark.slow
def test_servers_starting_together_on_a_fresh_sqlite_file_all_come_up(servers, tmp_path):
    import sqlite3

    for number in range(ROUNDS):
        path = tmp_path / f"round-{number}" / "ferry.db"
        answers = servers.start(f"sqlite:///{path}", _apps("shop", "blog"))
        assert not _failures(answers), _failures(answers)[0]
        with sqlite3.connect(path) as connection:
            assert connection.execute('SELECT count(*) FROM "oauth_client"').fetchone()[0] == 2
            rows = connection.execute('SELECT "alg" FROM "signing_key"').fetchall()
            assert sorted(alg for (alg,) in rows) == ["ES256", "RS256"]  # one each


def _migrations() -> list[int]:
    from models import migrations

    return [module.VERSION for module in migrations.available()]


# -- the db commands report what they did -------------------------------------------------------
def _flask(instance: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "FERRY_INSTANCE_PATH": str(instance), "FERRY_DATABASE_URL": url,
               "FERRY_SECRET_KEY": "cli-test-key", "PYTHONPATH": str(ROOT)}
    environ.pop("FERRY_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT,
                          env=environ, capture_output=True, text=True, timeout=60)


def test_db_status_and_upgrade_on_a_fresh_database_say_what_they_do(tmp_path):
    url = f"sqlite:///{tmp_path}/fresh.db"
    versions = ", ".join(str(version) for version in _migrations())

    status = _flask(tmp_path, url, "db", "status")
    assert status.returncode == 0, status.stderr
    assert status.stdout.splitlines() == ["applied: none", f"pending: {versions}"]

    upgrade = _flask(tmp_path, url, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert upgrade.stdout.strip() == f"applied: {versions}"

    again = _flask(tmp_path, url, "db", "upgrade")
    assert again.stdout.strip() == "schema is up to date"
    assert _flask(tmp_path, url, "db", "status").stdout.splitlines()[1] == "pending: none"


def test_other_commands_still_migrate_on_start(tmp_path):
    url = f"sqlite:///{tmp_path}/fresh.db"
    rotated = _flask(tmp_path, url, "keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.startswith("new signing key ")
    assert _flask(tmp_path, url, "db", "upgrade").stdout.strip() == "schema is up to date"


# -- an issuer on an IP address ---------------------------------------------------------------
def test_a_public_ip_issuer_is_refused_naming_the_setting(make_app):
    with pytest.raises(ConfigError, match="webauthn_rp_id") as refused:
        make_app(ISSUER="https://203.0.113.7")
    assert "203.0.113.7" in str(refused.value) and "IP address" in str(refused.value)


def test_an_ip_issuer_with_a_domain_rp_id_starts(make_app):
    app = make_app(ISSUER="https://203.0.113.7", WEBAUTHN_RP_ID="login.example.com",
                   WEBAUTHN_ORIGINS=["https://login.example.com"])
    assert app.config["WEBAUTHN_RP_ID"] == "login.example.com"


def test_a_loopback_ip_issuer_starts_with_a_loud_warning(make_app, caplog):
    with caplog.at_level(logging.WARNING, logger="authenticators.passkey"):
        make_app(ISSUER="http://127.0.0.1:5000")
    warnings = [r.getMessage() for r in caplog.records if r.name == "authenticators.passkey"]
    assert len(warnings) == 1 and "webauthn_rp_id" in warnings[0] and "localhost" in warnings[0]


@pytest.mark.parametrize("rp_id", ["10.0.0.5", "192.168.1.10", "2001:db8::1", "[2001:db8::1]"])
def test_every_ip_form_is_refused(rp_id):
    with pytest.raises(ConfigError, match="webauthn_rp_id"):
        check_rp_id(rp_id, "https://login.example.com")


@pytest.mark.parametrize("rp_id", ["127.0.0.1", "127.0.1.1", "::1", "[::1]"])
def test_loopback_addresses_only_warn(rp_id, caplog):
    with caplog.at_level(logging.WARNING, logger="authenticators.passkey"):
        check_rp_id(rp_id, "http://127.0.0.1:5000")
    assert "IP address" in caplog.text


@pytest.mark.parametrize("rp_id", ["localhost", "login.example.com", "example.com"])
def test_domains_pass_quietly(rp_id, caplog):
    with caplog.at_level(logging.DEBUG, logger="authenticators.passkey"):
        check_rp_id(rp_id, f"https://{rp_id}")
    assert not caplog.records
