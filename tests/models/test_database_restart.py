"""PostgreSQL restarting under a running Ferry: sign-ins caught in it get the "try again" page,
the next ones succeed on new connections, and Ferry itself is never restarted.

The database is a throwaway cluster of this module's own (``initdb`` and ``pg_ctl`` as user
postgres, on a free port), because the test stops and starts the server.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from models import db
from tests.accounts import create_local_user
from tests.conftest import SignIn, is_sign_in_page

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

EMAIL, PASSWORD = "kim@example.com", "correct horse battery staple"


class Cluster:
    """A PostgreSQL cluster in a temporary folder, started and stopped with ``pg_ctl``."""

    def __init__(self) -> None:
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not binaries:
            pytest.skip("PostgreSQL binaries are not installed")
        self.bindir = os.path.dirname(binaries[-1])
        self.workdir = tempfile.mkdtemp(prefix="ferry-restart-pg-")
        shutil.chown(self.workdir, "postgres")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._as_postgres("initdb", "-D", f"{self.workdir}/data", "-A", "trust", "-U", "postgres")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, tool: str, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", f"{self.bindir}/{tool}", *args],
                       check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        self._as_postgres("pg_ctl", "-D", f"{self.workdir}/data", "-w", "-l", f"{self.workdir}/log",
                          "-o", f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.workdir}",
                          "start")

    def stop(self) -> None:
        self._as_postgres("pg_ctl", "-D", f"{self.workdir}/data", "-w", "-m", "fast", "stop")

    def remove(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    started = Cluster()
    started.start()
    yield started
    started.remove()


@pytest.fixture
def app(make_app, cluster):
    built = make_app(cluster.url)
    create_local_user(built, EMAIL, PASSWORD)
    yield built
    with db.connection_context():  # this test's tables go; the cluster stays for the next
        db.execute_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")


def sign_in(app) -> tuple[str, object]:
    """One sign-in in a fresh browser: ("ok", response) or ("failed", the failing response)."""
    walker = SignIn(app.test_client())
    response = walker.authorize()  # the sign-in page, in /authorize's own answer
    if response.status_code != 200 or not is_sign_in_page(response):
        return "failed", response
    response = walker.post(identifier=EMAIL, password=PASSWORD)
    location = response.headers.get("Location", "")
    if response.status_code in (302, 303) and "code=" in location:
        return "ok", response
    return "failed", response


def assert_try_again_page(response) -> None:
    body = response.get_data(as_text=True)
    assert response.status_code == 503, (response.status_code, body[:400])
    assert "try again" in body.lower() and "Traceback" not in body
    assert response.headers.get("Retry-After")


def test_sign_ins_while_the_database_is_down_get_the_try_again_page_then_work_again(app, cluster):
    assert sign_in(app)[0] == "ok"
    assert sign_in(app)[0] == "ok"  # the pool now holds a connection the restart will kill

    cluster.stop()
    try:
        outcome, response = sign_in(app)
        assert outcome == "failed"
        assert_try_again_page(response)
    finally:
        cluster.start()

    # The very next sign-in works: the dead pooled connection is noticed and replaced.
    assert sign_in(app)[0] == "ok"


def test_a_restart_during_a_stream_of_sign_ins_fails_only_requests_caught_in_it(app, cluster):
    outcomes: list[tuple[float, str, int]] = []
    unexpected: list[str] = []
    stop = threading.Event()

    def browse() -> None:
        while not stop.is_set():
            outcome, response = sign_in(app)
            outcomes.append((time.monotonic(), outcome, response.status_code))
            if outcome == "failed" and response.status_code != 503:
                unexpected.append(f"{response.status_code}: {response.get_data(as_text=True)[:300]}")

    browsers = [threading.Thread(target=browse) for _ in range(3)]
    for browser in browsers:
        browser.start()
    try:
        time.sleep(1.0)
        cluster.stop()
        time.sleep(0.5)
        cluster.start()
        restarted = time.monotonic()
        time.sleep(1.5)
    finally:
        stop.set()
        for browser in browsers:
            browser.join(timeout=60)

    assert not unexpected, unexpected[0]
    failed = [o for o in outcomes if o[1] == "failed"]
    assert failed, "no sign-in was caught in the restart: the test proved nothing"
    after = [o for o in outcomes if o[0] > restarted + 0.2]
    assert after and all(o[1] == "ok" for o in after), after
    assert sign_in(app)[0] == "ok"
