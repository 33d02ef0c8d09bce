"""The bench's legacy IdP: the demo legacy IdP (``demo/legacy_idp.py``) with N bench users, in a
gunicorn process of its own, started and stopped by its PID.

``create_app()`` is the gunicorn app (``legacy_peer:create_app()`` with ``--pythonpath bench``):
the demo IdP (OAuth password grant at ``/oauth/token``, ``/userinfo``) plus the users named by
``BENCH_LEGACY_USERS`` (how many) and ``BENCH_LEGACY_SEED`` (their passwords), hashed at start
with ``BENCH_LEGACY_HASH``: ``cheap`` (argon2id t=1, m=64 KiB: the IdP answers in a few ms, so
Ferry's own cost stands out) or ``demo`` (the demo IdP's own argon2-cffi defaults, as a real IdP
would spend). :class:`LegacyPeer` runs it; :func:`legacy_user` says who user *n* is.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests
from argon2 import PasswordHasher
from ferry_server import ROOT, Gunicorn, free_port

sys.path.insert(0, str(ROOT))
from demo.legacy_idp import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, LegacyUser  # noqa: E402
from demo.legacy_idp import create_app as create_demo_idp  # noqa: E402

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "LegacyPeer", "create_app", "legacy_user"]
HASHES = {"cheap": {"time_cost": 1, "memory_cost": 64, "parallelism": 1}, "demo": {}}


def legacy_user(number: int, seed: str) -> tuple[str, str]:
    """The e-mail address and password of bench legacy user ``number``."""
    return f"first-{number:06d}@example.com", f"legacy {seed} {number:06d}"


def create_app():
    """The demo legacy IdP holding the bench users the environment names (gunicorn calls this)."""
    app = create_demo_idp()
    store = app.extensions["demo_legacy_idp"]
    hasher = PasswordHasher(**HASHES[os.environ.get("BENCH_LEGACY_HASH", "cheap")])
    seed = os.environ["BENCH_LEGACY_SEED"]
    for number in range(int(os.environ["BENCH_LEGACY_USERS"])):
        email, password = legacy_user(number, seed)
        store.users[email] = LegacyUser(sub=f"bench-legacy-{number}", email=email,
                                        given_name="First", family_name=f"{number:06d}",
                                        password_hash=hasher.hash(password))
    store.hasher = hasher  # the decoy check of an unknown user costs the same as a real one
    store.decoy_hash = hasher.hash(seed + " decoy")
    return app


class LegacyPeer(Gunicorn):
    """``gunicorn -k gthread`` serving :func:`create_app` on a free port, stopped by its PID;
    its CPU (master and worker) from /proc as for Ferry (``Gunicorn.cpu``).

    One worker, so its users and tokens live in one store; its threads answer calls from all of
    Ferry's workers at once, and its connections stay open between calls (as Ferry keeps them).
    """

    def __init__(self, users: int, seed: str, hash_cost: str, log: Path, threads: int = 8) -> None:
        """Start it; :meth:`wait_ready` waits until it answers."""
        self.port, self.log, self.users, self.workers = free_port(), log, users, 1
        self.base = f"http://127.0.0.1:{self.port}"
        self.token_url, self.userinfo_url = self.base + "/oauth/token", self.base + "/userinfo"
        self._log_file = log.open("wb")
        environ = {**os.environ, "BENCH_LEGACY_USERS": str(users), "BENCH_LEGACY_SEED": seed,
                   "BENCH_LEGACY_HASH": hash_cost}
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "gunicorn", "-w", "1", "-k", "gthread", "--threads", str(threads),
             "-b", f"127.0.0.1:{self.port}", "--no-control-socket", "--timeout", "120",
             "--pythonpath", str(ROOT / "bench"), "legacy_peer:create_app()"],
            cwd=ROOT, env=environ, stdout=self._log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, session=None, timeout: float = 120.0) -> None:
        """Return once ``/userinfo`` answers (401 without a token); raise if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"legacy IdP exited with {self.process.returncode}:\n{self.tail()}")
            try:
                if requests.get(self.userinfo_url, timeout=2).status_code == 401:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"legacy IdP did not answer within {timeout:.0f} s:\n{self.tail()}")

    def check(self, http: requests.Session, email: str, password: str) -> dict:
        """One credential check as Ferry's ``ropc`` connector makes it (password grant with HTTP
        Basic, then userinfo with the access token, on kept-alive connections); the claims.

        Raises ``RuntimeError`` on any answer but a good one.
        """
        response = http.post(self.token_url, data={
            "grant_type": "password", "username": email, "password": password,
            "scope": "openid email profile"}, auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
            headers={"Accept": "application/json"}, timeout=(5, 30))
        if response.status_code != 200 or "access_token" not in response.json():
            raise RuntimeError(f"legacy token -> {response.status_code}: {response.text[:300]}")
        profile = http.get(self.userinfo_url, timeout=(5, 30), headers={
            "Authorization": f"Bearer {response.json()['access_token']}",
            "Accept": "application/json"})
        if profile.status_code != 200 or profile.json().get("email") != email:
            raise RuntimeError(f"legacy userinfo -> {profile.status_code}: {profile.text[:300]}")
        return profile.json()
