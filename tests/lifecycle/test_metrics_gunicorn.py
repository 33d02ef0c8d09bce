"""``/metrics`` under real gunicorn with two workers and ``PROMETHEUS_MULTIPROC_DIR``.

Wrong-password sign-ins are posted in concurrent bursts until both workers have counted some
(each worker writes its own ``counter_<pid>.db`` in the multiprocess folder, which the test
reads to know). Then one scrape, answered by either worker, must show the sum of both: exactly
the number of failures driven. The roster, seeded in the database beforehand, must read the
same figure once, not once per worker; and the process metrics name each live worker.
"""

from __future__ import annotations

import csv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bcrypt
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from models import RosterEntry, database, db
from tests.conftest import form_fields

PASSWORD = "correct horse battery staple"
ALICE = "alice@example.com"
BURST, MAX_BURSTS = 8, 12


def write_instance(folder: Path, port: int) -> Path:
    """A Ferry configuration whose legacy IDP is a one-user hash export."""
    export = folder / "users.csv"
    with export.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["id", "email", "password_hash"])
        writer.writeheader()
        writer.writerow({"id": "legacy-1", "email": ALICE,
                         "password_hash": bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()})
    config = folder / "ferry.toml"
    config.write_text(f"""\
[ferry]
issuer = "http://127.0.0.1:{port}"
secret_key = "metrics-gunicorn-test-secret-0123456789"
database_url = "sqlite:///{folder / 'ferry.db'}"
log_level = "WARNING"
signin_rate_limit = "100000 per minute"
failed_signins_per_identifier = "100000 per minute"
password_time_cost = 1
password_memory_cost = 8192

[connectors.legacy]
type = "hashes"
source = "csv"
path = "{export}"
mapping = {{ email = "email" }}
""", encoding="utf-8")
    return config


def seed_roster(config: Path, remaining: int) -> None:
    """``remaining`` roster entries of ``legacy`` nobody migrated, written before gunicorn starts."""
    app = create_app({"CONFIG_FILE": str(config)})
    with app.app_context(), db.connection_context():
        for number in range(remaining):
            RosterEntry.create(connector="legacy", email=f"r{number}@example.com", source="import:t")
    database.shutdown()


def wrong_password(base: str) -> int:
    """One browser posting alice's address with a wrong password; the answer's status."""
    with requests.Session() as browser:
        page = browser.get(base + "/login", timeout=60)
        answer = browser.post(base + "/login", data={**form_fields(page.text), "identifier": ALICE,
                                                     "password": "not her password"},
                              allow_redirects=False, timeout=60)
        return answer.status_code


def counting_pids(folder: Path) -> set[int]:
    """The processes that have counted something (prometheus_client's file names)."""
    return {int(path.stem.rpartition("_")[2]) for path in folder.glob("counter_*.db")}


def samples_of(text: str) -> dict[tuple[str, frozenset], float]:
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


@pytest.mark.slow
def test_two_gunicorn_workers_add_up_in_one_scrape(tmp_path, monkeypatch):
    from bench.ferry_server import Gunicorn, free_port

    port = free_port()
    instance, multiproc = tmp_path / "instance", tmp_path / "prometheus"
    instance.mkdir()
    multiproc.mkdir()
    monkeypatch.setenv("FERRY_INSTANCE_PATH", str(instance))
    config = write_instance(instance, port)
    seed_roster(config, remaining=3)
    hooks = tmp_path / "gunicorn.conf.py"
    hooks.write_text("from lifecycle.metrics import child_exit  # noqa: F401\n", encoding="utf-8")

    server = Gunicorn({"FERRY_CONFIG": str(config), "FERRY_INSTANCE_PATH": str(instance),
                       "PROMETHEUS_MULTIPROC_DIR": str(multiproc)}, port, 2, tmp_path / "gunicorn.log",
                      options=["-c", str(hooks), "--timeout", "60"])
    try:
        with requests.Session() as probe:
            server.wait_ready(probe)
        driven = 0
        with ThreadPoolExecutor(BURST) as pool:
            for _ in range(MAX_BURSTS):
                statuses = list(pool.map(wrong_password, [server.base] * BURST))
                assert statuses == [200] * BURST, server.tail()
                driven += BURST
                if len(counting_pids(multiproc) & set(server.worker_pids())) >= 2:
                    break
        workers = set(server.worker_pids())
        assert len(workers) == 2
        assert counting_pids(multiproc) >= workers, "both workers must have counted failures"

        scraped = requests.get(server.base + "/metrics", timeout=60)
        assert scraped.status_code == 200, server.tail()
        samples = samples_of(scraped.text)
        failures = frozenset({("connector", "legacy"), ("reason", "wrong_password")})
        assert samples[("ferry_signin_failures_total", failures)] == driven
        calls = frozenset({("connector", "legacy"), ("operation", "verify"), ("outcome", "answer")})
        assert samples[("ferry_legacy_call_seconds_count", calls)] == driven
        roster = frozenset({("connector", "legacy"), ("state", "remaining")})
        assert samples[("ferry_roster_users", roster)] == 3  # once, not once per worker
        reported = {int(dict(labels)["pid"]) for name, labels in samples
                    if name == "process_cpu_seconds_total"}
        assert reported == workers

        remote = requests.get(server.base + "/metrics", headers={"X-Forwarded-For": "203.0.113.7"},
                              timeout=60)
        assert remote.status_code == 403  # through a proxy: not loopback
    finally:
        server.stop()
