"""Finding (or starting) a PostgreSQL server for the tests.

Order: ``FERRY_TEST_DATABASE_URL``; the server on 127.0.0.1:5432 when it answers; otherwise a
throwaway cluster started from the installed PostgreSQL binaries. Tests use a database of their
own, ``ferry_test_<pid>`` (so concurrent test runs never share one), whose schema is emptied
before each test and which is dropped when the run ends.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import subprocess
import tempfile

import psycopg
import pytest

_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
_DATABASE = f"ferry_test_{os.getpid()}"
_found: str | None = None


def _answers(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=3).close()
        return True
    except psycopg.Error:
        return False


def _throwaway_cluster() -> str | None:
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not binaries:
        return None
    bindir = os.path.dirname(binaries[-1])
    workdir = tempfile.mkdtemp(prefix="ferry-pg-")
    shutil.chown(workdir, "postgres")
    port = "55432"
    run = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*run, f"{bindir}/initdb", "-D", f"{workdir}/data", "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)
    subprocess.run([*run, f"{bindir}/pg_ctl", "-D", f"{workdir}/data", "-w", "-o",
                    f"-c listen_addresses=127.0.0.1 -p {port} -k {workdir}", "start"],
                   check=True, capture_output=True)
    atexit.register(subprocess.run, [*run, f"{bindir}/pg_ctl", "-D", f"{workdir}/data",
                                     "-m", "fast", "stop"], capture_output=True)
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


def _admin_url() -> str:
    global _found
    if _found:
        return _found
    candidates = [os.environ.get("FERRY_TEST_DATABASE_URL"), _DEFAULT]
    for url in filter(None, candidates):
        if _answers(url):
            _found = url
            return url
    started = _throwaway_cluster()
    if started and _answers(started):
        _found = started
        return started
    pytest.fail("no PostgreSQL server: set FERRY_TEST_DATABASE_URL or install PostgreSQL")


def postgres_url() -> str:
    """URL of the tests' own database (created on first use)."""
    admin = _admin_url()
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (_DATABASE,)).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{_DATABASE}"')
            atexit.register(_drop_database, admin)
    return admin.rsplit("/", 1)[0] + f"/{_DATABASE}"


def reset_postgres(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")


def _drop_database(admin: str) -> None:
    try:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{_DATABASE}" WITH (FORCE)')
    except psycopg.Error:
        pass  # the server went away first; nothing to clean
