"""A throw-away Ferry for the benchmark: its config, returning users, gunicorn, and /proc CPU.

Everything lives in one temporary instance folder; gunicorn is started and stopped by its PID.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIENT_ID = "bench"
CLIENT_SECRET = "bench-client-secret-0123456789"  # noqa: S105 - a throw-away instance's app
REDIRECT_URI = "http://127.0.0.1:9/cb"
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@dataclass
class Account:
    email: str
    password: str
    user_id: str


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_config(instance: Path, port: int) -> Path:
    # Password cost settings are left at their defaults on purpose: that is what is measured.
    config = instance / "ferry.toml"
    config.write_text(f"""\
[ferry]
issuer = "http://127.0.0.1:{port}"
secret_key = "bench-secret-key-not-for-production-0123456789"
log_level = "WARNING"
signin_rate_limit = "1000000 per minute"
token_rate_limit = "1000000 per minute"
failed_signins_per_identifier = "1000000 per minute"

[apps.{CLIENT_ID}]
name = "Bench"
client_secret = "{CLIENT_SECRET}"
redirect_uris = ["{REDIRECT_URI}"]
""", encoding="utf-8")
    return config


def create_accounts(environ: dict[str, str], count: int) -> tuple[list[Account], dict]:
    """Make ``count`` returning users; return them and the argon2 parameters Ferry uses.

    They said "Not now, never again" to the passkey offer: the shipped sign-in journey checks
    the offer on every password sign-in but goes straight back to the app, as it does for most
    returning users once the migration has settled.
    """
    os.environ.update(environ)
    sys.path.insert(0, str(ROOT))
    import authenticators
    from app import create_app
    from models import EnrollmentOffer, PasswordCredential, User, db

    app = create_app()
    accounts = []
    with app.app_context(), db.connection_context():
        password_authenticator = authenticators.get("password")
        for number in range(count):
            email = f"bench-{number:04d}@example.com"
            password = f"correct horse battery {number:04d}"
            user = User.create(email=email, email_verified=True, given_name="Bench")
            PasswordCredential.create(user=user, hash=password_authenticator.hash(password),
                                      source="local")
            EnrollmentOffer.create(user=user, kind="passkey", declined=1, ask_after=None)
            accounts.append(Account(email, password, user.id))
            if (number + 1) % 10 == 0 or number + 1 == count:
                progress(f"created {number + 1}/{count} users")
        params = argon2_params(password_authenticator.hasher)
    db.close()
    return accounts, params


def argon2_params(hasher) -> dict:
    """The settings of Ferry's argon2id ``PasswordHasher``, to build the same one elsewhere."""
    return {"time_cost": hasher.time_cost, "memory_cost": hasher.memory_cost,
            "parallelism": hasher.parallelism, "hash_len": hasher.hash_len,
            "salt_len": hasher.salt_len}


class Gunicorn:
    """Ferry under gunicorn, started and stopped by its PID."""

    def __init__(self, environ: dict[str, str], port: int, workers: int, log: Path,
                 options: Sequence[str] = ()) -> None:
        """``options``: more gunicorn command-line options (passkey.py adds an access log)."""
        self.port, self.log, self.workers = port, log, workers
        self.base = f"http://127.0.0.1:{port}"
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}",
             # gunicorn 27 would otherwise open a control socket at one fixed path in $HOME
             "--no-control-socket", *options, "app:create_app()"],
            cwd=ROOT, env={**os.environ, **environ}, stdout=self._log_file,
            stderr=subprocess.STDOUT, start_new_session=True,  # Ctrl-C reaches only us
        )

    def wait_ready(self, session, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.tail()}")
            try:
                answered = session.get(self.base + "/.well-known/openid-configuration", timeout=2).ok
                if answered and len(self.worker_pids()) >= self.workers:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"Ferry did not answer within {timeout:.0f} s:\n{self.tail()}")

    def worker_pids(self) -> list[int]:
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                stat = _proc_stat(int(entry))
                if stat and int(stat[1]) == self.process.pid:
                    pids.append(int(entry))
        return pids

    def cpu(self) -> tuple[float, set[int]]:
        """CPU seconds of the master (with reaped children) and every live worker."""
        fields = _proc_stat(self.process.pid) or ["0"] * 15
        ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
        workers = set(self.worker_pids())
        for pid in workers:
            worker = _proc_stat(pid)
            if worker:
                ticks += int(worker[11]) + int(worker[12])
        return ticks / CLOCK_TICK, workers

    def tail(self, lines: int = 40) -> str:
        self._log_file.flush()
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # gunicorn's graceful stop: the master ends its workers
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()


def process_ticks() -> dict[int, tuple[str, int]]:
    """Every process's name and CPU ticks (its own and its reaped children's)."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                raw = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = raw[raw.rindex(")") + 2:].split()
            found[int(entry)] = (raw[raw.index("(") + 1:raw.rindex(")")],
                                 sum(int(fields[i]) for i in (11, 12, 13, 14)))
    return found


def busiest_others(before: dict, after: dict, exclude: set[int], seconds: float) -> dict[str, float]:
    """Cores used by the three busiest processes outside ``exclude`` between two readings."""
    used = {}
    for pid, (name, ticks) in after.items():
        if pid not in exclude:
            used[f"{name}[{pid}]"] = (ticks - before.get(pid, (name, 0))[1]) / CLOCK_TICK / seconds
    return {name: round(cores, 2) for name, cores in
            sorted(used.items(), key=lambda item: -item[1])[:3] if cores >= 0.01}


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (index 1 = ppid, 11 = utime)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()


def machine_ticks() -> list[int]:
    """The ``cpu`` line of /proc/stat: user nice system idle iowait irq softirq steal."""
    return [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]


def machine_busy(before: list[int], after: list[int]) -> tuple[float, float]:
    """CPU seconds every process spent between two readings, and the share stolen by the host."""
    ticks = [b - a for a, b in zip(before, after, strict=True)]
    busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]
    return busy / CLOCK_TICK, ticks[7] / max(sum(ticks), 1)
