"""Passkey sign-ins through Ferry (options, then verification), against raw ECDSA P-256.

One run on one machine measures:

* **Ferry**: ``gunicorn -w 2 'app:create_app()'`` (as in signin.py) on a throw-away instance whose
  default journey is ``passkey-sign-in``, holding N users with one passkey each, written directly
  to the database; the benchmark keeps each passkey's P-256 private key, as an authenticator
  would. Client threads each play a fresh browser per sign-in: ``GET /login`` (step 1, the
  options: a challenge, no allowCredentials), sign as the authenticator does, ``POST /login``
  (step 2, the verification), which must answer 303 to the account page. The server's time for
  each step comes from gunicorn's own request timer, written to its access log.
* **ECDSA P-256 alone** (``cryptography``), one process per core: verifies half before and half
  after the Ferry window (the server's crypto floor), and signatures before it (the client's
  share of each sign-in, to subtract).
* **argon2id alone** with Ferry's password parameters, after the window, so a passkey sign-in can
  be set against one password check; and the last ``signin.py`` result, if there is one.

See bench/README.md for how to read the figures.

    .venv/bin/python bench/passkey.py --seconds 15
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import math
import multiprocessing
import os
import platform
import re
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import cbor2
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from ferry_server import (
    ROOT,
    Gunicorn,
    busiest_others,
    free_port,
    machine_busy,
    machine_ticks,
    process_ticks,
    progress,
    write_config,
)
from load_client import SignInFailed, hidden_fields
from signin import NOISY_CORES, _commit, _end_process, _own_cpu, argon2_baseline  # its plumbing, reused

RESULTS = ROOT / "bench" / "results"
JOURNEY = "passkey-sign-in"
#: Names each sign-in in gunicorn's access log, so its two requests are found again.
TAG_HEADER = "X-Bench-Signin"
ACCESS_FORMAT = "%({x-bench-signin}i)s %(m)s %(s)s %(D)s"  # D: the request's microseconds
UP, UV = 0x01, 0x04  # authenticatorData flags: user present, user verified
ES256 = ec.ECDSA(hashes.SHA256())


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# -- the passkeys ------------------------------------------------------------------------
@dataclass
class Passkey:
    """One user's discoverable credential. One client thread uses it, so its counter needs no lock."""

    user_id: str
    credential_id: bytes
    key: ec.EllipticCurvePrivateKey
    counter: int = 0

    def cose_public_key(self) -> bytes:
        """The COSE_Key an authenticator reports at registration: EC2 (1), ES256 (-7), P-256 (1)."""
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})

    def assertion(self, options: dict, origin: str) -> str:
        """The answer to ``navigator.credentials.get(options)``, as ferry-webauthn.js posts it."""
        self.counter += 1
        client_data = json.dumps({"type": "webauthn.get", "challenge": options["challenge"],
                                  "origin": origin, "crossOrigin": False}, separators=(",", ":")).encode()
        authenticator_data = (hashlib.sha256(options["rpId"].encode()).digest()
                              + bytes([UP | UV]) + self.counter.to_bytes(4, "big"))
        signature = self.key.sign(authenticator_data + hashlib.sha256(client_data).digest(), ES256)
        return json.dumps({
            "id": b64url(self.credential_id), "rawId": b64url(self.credential_id), "type": "public-key",
            "clientExtensionResults": {},
            "response": {"clientDataJSON": b64url(client_data),
                         "authenticatorData": b64url(authenticator_data),
                         "signature": b64url(signature), "userHandle": b64url(self.user_id.encode())},
        })


def create_passkey_users(environ: dict[str, str], count: int) -> tuple[list[Passkey], dict, dict]:
    """Make ``count`` users with one passkey each; return them, Ferry's argon2 and WebAuthn settings."""
    os.environ.update(environ)
    sys.path.insert(0, str(ROOT))
    import authenticators
    from app import create_app
    from models import PasskeyCredential, User, db

    app = create_app()
    passkeys = []
    with app.app_context(), db.connection_context():
        for number in range(count):
            user = User.create(email=f"bench-{number:04d}@example.com", email_verified=True,
                               given_name="Bench")
            passkey = Passkey(user.id, os.urandom(16), ec.generate_private_key(ec.SECP256R1()))
            PasskeyCredential.create(user=user, credential_id=b64url(passkey.credential_id),
                                     public_key=passkey.cose_public_key(), transports=["internal"])
            passkeys.append(passkey)
        hasher = authenticators.get("password").hasher
    db.close()
    argon2 = {"time_cost": hasher.time_cost, "memory_cost": hasher.memory_cost,
              "parallelism": hasher.parallelism, "hash_len": hasher.hash_len, "salt_len": hasher.salt_len}
    webauthn = {key.lower(): app.config[key] for key in
                ("DEFAULT_JOURNEY", "WEBAUTHN_RP_ID", "WEBAUTHN_ORIGINS", "WEBAUTHN_USER_VERIFICATION")}
    return passkeys, argon2, webauthn


# -- the load client -----------------------------------------------------------------------
@dataclass
class Outcome:
    tag: str
    finished: float  # time.monotonic() at the end of the sign-in
    seconds: float
    steps: dict[str, float]  # client-observed seconds of "options" and "verify"
    signing_cpu: float  # this thread's CPU seconds building and signing the assertion
    failure: SignInFailed | None = None


def _expect(response: requests.Response, status: int, step: str) -> requests.Response:
    if response.status_code != status:
        text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.text)).split())
        raise SignInFailed(f"{step} -> {response.status_code}", text[:600])
    return response


def sign_in(base: str, passkey: Passkey, tag: str, steps: dict[str, float]) -> float:
    """One passkey sign-in in a fresh browser; returns the signing CPU, raises SignInFailed."""
    timeout, headers = (5, 60), {TAG_HEADER: tag}
    with requests.Session() as http:
        began = time.perf_counter()
        page = _expect(http.get(base + "/login", headers=headers, timeout=timeout), 200, "GET /login")
        steps["options"] = time.perf_counter() - began
        found = re.search(r'data-webauthn-options="([^"]*)"', page.text)
        if not found:
            raise SignInFailed("GET /login -> no passkey options", page.text[:300])
        form, options = hidden_fields(page.text), json.loads(html.unescape(found.group(1)))
        cpu = time.thread_time()
        form["credential"] = passkey.assertion(options, origin=base)
        signing = time.thread_time() - cpu
        began = time.perf_counter()
        response = http.post(base + "/login", data=form, headers=headers, allow_redirects=False,
                             timeout=timeout)
        steps["verify"] = time.perf_counter() - began
        _expect(response, 303, "POST /login")
        location = urljoin(response.url, response.headers.get("Location", ""))
        if location != base + "/" or not http.cookies:
            raise SignInFailed("POST /login -> not the account page", location[:300])
    return signing


@dataclass
class PasskeyLoad:
    """Client threads signing in continuously until ``stop`` is set; thread n owns passkeys n::threads."""

    base: str
    passkeys: list[Passkey]
    threads: int
    stop: threading.Event = field(default_factory=threading.Event)
    outcomes: list[Outcome] = field(default_factory=list)

    def start(self) -> list[threading.Thread]:
        runners = [threading.Thread(target=self._run, args=(n,), daemon=True, name=f"browser-{n}")
                   for n in range(self.threads)]
        for runner in runners:
            runner.start()
        return runners

    def _run(self, number: int) -> None:
        # Each passkey has one thread, so its counter only grows, as on a real authenticator.
        mine, turn = self.passkeys[number::self.threads], 0
        while not self.stop.is_set():
            tag, steps, signing, failure = f"{number}.{turn}", {}, 0.0, None
            began = time.monotonic()
            try:
                signing = sign_in(self.base, mine[turn % len(mine)], tag, steps)
            except SignInFailed as error:
                failure = error
            except Exception as error:  # noqa: BLE001 - a connection error is a finding too
                failure = SignInFailed(type(error).__name__, str(error)[:300])
            ended = time.monotonic()
            self.outcomes.append(Outcome(tag, ended, ended - began, steps, signing, failure))
            turn += 1


# -- raw ECDSA P-256 ---------------------------------------------------------------------------
def _ecdsa_loop(operation: str, seconds: float, barrier, results) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us by PID
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    # What an assertion signs: authenticatorData (37 bytes) || SHA-256(clientDataJSON).
    message = os.urandom(37) + hashlib.sha256(os.urandom(150)).digest()
    signature = key.sign(message, ES256)
    if operation == "verify":
        def once() -> None:
            public.verify(signature, message, ES256)
    else:
        def once() -> None:
            key.sign(message, ES256)
    once()
    barrier.wait()
    cpu, began, count = time.process_time(), time.monotonic(), 0
    while time.monotonic() - began < seconds:
        for _ in range(50):
            once()
        count += 50
    results.put((count, time.process_time() - cpu, time.monotonic() - began))


def ecdsa_baseline(operation: str, seconds: float, processes: int, stack: ExitStack) -> dict:
    """ECDSA P-256 ``operation`` ("verify" or "sign") per second in ``processes`` processes."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(processes + 1), context.Queue()
    workers = [context.Process(target=_ecdsa_loop, args=(operation, seconds, barrier, results))
               for _ in range(processes)]
    for worker in workers:
        worker.start()
        stack.callback(_end_process, worker)
    barrier.wait(timeout=60)
    machine0, others0, began = machine_ticks(), process_ticks(), time.monotonic()
    counts, cpus, rate = 0, 0.0, 0.0
    for _ in workers:
        count, cpu, wall = results.get(timeout=seconds + 60)
        counts, cpus, rate = counts + count, cpus + cpu, rate + count / wall
    busy, _steal = machine_busy(machine0, machine_ticks())
    wall = time.monotonic() - began
    others = busiest_others(others0, process_ticks(), {os.getpid()} | {w.pid for w in workers}, wall)
    for worker in workers:
        worker.join()
    return {"operations": counts, "per_s": rate, "cpu_ms": 1000 * cpus / counts,
            "other_cpu_cores": max(0.0, busy - cpus) / wall, "busiest_others": others}


# -- the run -------------------------------------------------------------------------------
def percentiles(seconds: list[float]) -> dict[str, float | None]:
    """Nearest-rank p50/p95/p99 and the mean of durations in seconds, in milliseconds."""
    ordered = sorted(seconds)
    if not ordered:
        return {"p50": None, "p95": None, "p99": None, "mean": None}
    rank = {q: 1000 * ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] for q in (50, 95, 99)}
    return {"p50": rank[50], "p95": rank[95], "p99": rank[99], "mean": 1000 * statistics.fmean(ordered)}


def server_times(access_log: Path, tags: set[str]) -> dict[str, list[float]]:
    """Gunicorn's seconds for each step of the sign-ins named by ``tags``."""
    steps: dict[str, list[float]] = {"options": [], "verify": []}
    for line in access_log.read_text(errors="replace").splitlines():
        fields = line.split()
        if len(fields) == 4 and fields[0] in tags:
            steps["options" if fields[1] == "GET" else "verify"].append(int(fields[3]) / 1e6)
    return steps


def measure_ferry(ferry: Gunicorn, load: PasskeyLoad, access_log: Path, warmup: float,
                  seconds: float) -> dict:
    runners = load.start()
    progress(f"warm-up {warmup:.0f} s with {load.threads} client threads")
    time.sleep(warmup)
    cpu0, workers0 = ferry.cpu()
    client0, machine0, others0, t0 = _own_cpu(), machine_ticks(), process_ticks(), time.monotonic()
    while (elapsed := time.monotonic() - t0) < seconds:
        time.sleep(min(5.0, seconds - elapsed))
        done = [o for o in list(load.outcomes) if o.finished >= t0]
        progress(f"measuring {time.monotonic() - t0:4.1f}/{seconds:.0f} s: "
                 f"{sum(o.failure is None for o in done)} sign-ins, "
                 f"{sum(o.failure is not None for o in done)} failures")
    t1 = time.monotonic()
    cpu1, workers1 = ferry.cpu()
    client1, machine1, others1 = _own_cpu(), machine_ticks(), process_ticks()
    load.stop.set()
    for runner in runners:  # let in-flight sign-ins end before the baseline starts
        runner.join(timeout=60)

    window = [o for o in list(load.outcomes) if t0 <= o.finished < t1]
    good = [o for o in window if o.failure is None]
    failures: dict[str, list[str]] = {}
    for outcome in window:
        if outcome.failure:
            failures.setdefault(outcome.failure.kind, []).append(outcome.failure.detail)
    server = server_times(access_log, {o.tag for o in good})
    busy, steal = machine_busy(machine0, machine1)
    wall, signins = t1 - t0, max(len(good), 1)
    return {
        "seconds": wall, "signins": len(good), "signins_per_s": len(good) / wall,
        "failures": sum(len(v) for v in failures.values()),
        "failure_kinds": {kind: {"count": len(details), "first": details[0][:600]}
                          for kind, details in failures.items()},
        "ferry_cpu_ms_per_signin": 1000 * (cpu1 - cpu0) / signins,
        "ferry_cpu_cores": (cpu1 - cpu0) / wall,
        "client_cpu_ms_per_signin": 1000 * (client1 - client0) / signins,
        "client_signing_cpu_ms_per_signin": 1000 * sum(o.signing_cpu for o in good) / signins,
        "server_ms": {step: percentiles(times) for step, times in server.items()},
        "server_requests_matched": {step: len(times) for step, times in server.items()},
        "client_ms": {"options": percentiles([o.steps["options"] for o in good]),
                      "verify": percentiles([o.steps["verify"] for o in good]),
                      "signin": percentiles([o.seconds for o in good])},
        "other_cpu_cores": max(0.0, busy - (cpu1 - cpu0) - (client1 - client0)) / wall,
        "machine_busy_cores": busy / wall,
        "machine_steal_pct": 100 * steal,
        "busiest_others": busiest_others(
            others0, others1, {os.getpid(), ferry.process.pid} | workers0 | workers1, wall),
        "workers_replaced": sorted(workers0 ^ workers1),
    }


def password_bench(path: Path) -> dict | None:
    """The last signin.py figures (another run), if there are any and none of its sign-ins failed."""
    try:
        last = json.loads(path.read_text(encoding="utf-8"))
        if last["ferry"]["failures"] or not last["ferry"]["signins"]:
            progress(f"{path.name}: its sign-ins failed; not compared")
            return None
        return {"signins_per_s": last["ferry"]["signins_per_s"],
                "ferry_cpu_ms_per_signin": last["ferry"]["ferry_cpu_ms_per_signin"],
                "commit": last["setup"].get("commit"), "when": last["setup"].get("when")}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run(args: argparse.Namespace, stack: ExitStack) -> dict:
    instance = Path(tempfile.mkdtemp(prefix="ferry-bench-passkey-"))
    stack.callback(shutil.rmtree, instance, ignore_errors=True)
    port = free_port()
    environ = {"FERRY_CONFIG": str(write_config(instance, port)), "FERRY_INSTANCE_PATH": str(instance),
               "FERRY_DEFAULT_JOURNEY": JOURNEY}
    progress(f"instance {instance}; creating {args.users} users with a passkey each")
    passkeys, argon2_params, webauthn = create_passkey_users(environ, args.users)
    progress(f"WebAuthn {webauthn}")

    cores = os.cpu_count() or 2
    half = args.seconds / 2
    progress(f"ECDSA P-256 verifies, first half: {half:.1f} s in {cores} processes")
    verify_before = ecdsa_baseline("verify", half, cores, stack)
    progress(f"ECDSA P-256 signatures: {args.seconds / 4:.1f} s in {cores} processes")
    sign = ecdsa_baseline("sign", args.seconds / 4, cores, stack)

    access_log = instance / "access.log"
    progress(f"starting Ferry: gunicorn -w {args.workers} on 127.0.0.1:{port}")
    ferry = Gunicorn(environ, port, args.workers, instance / "gunicorn.log",
                     options=["--access-logfile", str(access_log), "--access-logformat", ACCESS_FORMAT])
    stack.callback(_keep_logs, ferry, access_log)
    stack.callback(ferry.stop)
    with requests.Session() as probe:
        ferry.wait_ready(probe)
    load = PasskeyLoad(ferry.base, passkeys, args.threads)
    stack.callback(load.stop.set)
    measured = measure_ferry(ferry, load, access_log, args.warmup, args.seconds)

    progress(f"ECDSA P-256 verifies, second half: {half:.1f} s in {cores} processes")
    verify_after = ecdsa_baseline("verify", half, cores, stack)
    progress(f"argon2id {argon2_params}: {args.seconds / 4:.1f} s in {cores} processes")
    argon2 = argon2_baseline(argon2_params, args.seconds / 4, cores, stack)

    verifies = verify_before["operations"] + verify_after["operations"]
    verify = {
        "verifies": verifies, "per_s": (verify_before["per_s"] + verify_after["per_s"]) / 2,
        "per_s_before": verify_before["per_s"], "per_s_after": verify_after["per_s"],
        "cpu_ms": (verify_before["cpu_ms"] * verify_before["operations"]
                   + verify_after["cpu_ms"] * verify_after["operations"]) / verifies,
        "other_cpu_cores_before": verify_before["other_cpu_cores"],
        "other_cpu_cores_after": verify_after["other_cpu_cores"],
        "busiest_others_before": verify_before["busiest_others"],
        "busiest_others_after": verify_after["busiest_others"],
    }
    signed_in = measured["signins"] > 0
    return {
        "ferry": measured, "ecdsa_verify": verify, "ecdsa_sign": sign, "argon2": argon2,
        "password_bench": password_bench(args.signin_json),
        "throughput_ratio": measured["signins_per_s"] / verify["per_s"],
        "cpu_ratio": verify["cpu_ms"] / measured["ferry_cpu_ms_per_signin"] if signed_in else None,
        "argon2_per_passkey_cpu": argon2["cpu_ms_per_verify"] / measured["ferry_cpu_ms_per_signin"]
        if signed_in else None,
        "setup": {"webauthn": webauthn, "argon2": argon2_params, "gunicorn_workers": args.workers,
                  "client_threads": args.threads, "users": args.users, "warmup_s": args.warmup,
                  "cores": cores, "python": platform.python_version(), "database": "sqlite",
                  "commit": _commit(), "when": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
    }


def _keep_logs(ferry: Gunicorn, access_log: Path) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ferry.log, RESULTS / "passkey-gunicorn.log")
    if access_log.exists():
        shutil.copyfile(access_log, RESULTS / "passkey-access.log")


def _ms(stats: dict) -> str:
    return " / ".join("n/a" if stats[q] is None else f"{stats[q]:.1f}" for q in ("p50", "p95", "p99"))


def table(result: dict) -> str:
    ferry, verify, sign = result["ferry"], result["ecdsa_verify"], result["ecdsa_sign"]
    argon2 = result["argon2"]
    cores = result["setup"]["cores"]
    rows = [
        ("passkey sign-ins/s (GET options + POST verify)", f"{ferry['signins_per_s']:.1f}"),
        (f"ECDSA P-256 verifies/s (raw, {cores} processes)",
         f"{verify['per_s']:.0f}  (before {verify['per_s_before']:.0f}, after {verify['per_s_after']:.0f})"),
        ("throughput ratio (sign-ins / ECDSA verifies)", f"{result['throughput_ratio']:.4f}"),
        ("Ferry CPU ms per sign-in (all workers)", f"{ferry['ferry_cpu_ms_per_signin']:.2f}"),
        ("ECDSA P-256 CPU ms per verify", f"{verify['cpu_ms']:.3f}"),
        ("CPU ratio (ECDSA verify / Ferry per sign-in)",
         f"{result['cpu_ratio']:.3f}" if result["cpu_ratio"] else "n/a"),
        ("server ms, GET /login (options) p50/p95/p99", _ms(ferry["server_ms"]["options"])),
        ("server ms, POST /login (verify) p50/p95/p99", _ms(ferry["server_ms"]["verify"])),
        ("client-seen ms, options p50/p95/p99", _ms(ferry["client_ms"]["options"])),
        ("client-seen ms, verify p50/p95/p99", _ms(ferry["client_ms"]["verify"])),
        ("client-seen ms, whole sign-in p50/p95/p99", _ms(ferry["client_ms"]["signin"])),
        ("client CPU ms per sign-in (all / signing)",
         f"{ferry['client_cpu_ms_per_signin']:.2f} / {ferry['client_signing_cpu_ms_per_signin']:.3f}"),
        (f"ECDSA P-256 signatures/s (raw, {cores} processes)",
         f"{sign['per_s']:.0f}  ({sign['cpu_ms']:.3f} CPU ms each)"),
        (f"argon2id verifies/s (raw, {cores} processes)",
         f"{argon2['verifies_per_s']:.1f}  ({argon2['cpu_ms_per_verify']:.1f} CPU ms each)"),
        ("argon2id verify CPU / Ferry CPU per passkey sign-in",
         f"{result['argon2_per_passkey_cpu']:.2f}" if result["argon2_per_passkey_cpu"] else "n/a"),
    ]
    password = result["password_bench"]
    if password:
        rows.append((f"password sign-ins/s (signin.json, {password['when']}, another run)",
                     f"{password['signins_per_s']:.2f}  ({password['ferry_cpu_ms_per_signin']:.1f} "
                     f"Ferry CPU ms each)"))
    rows += [
        ("sign-ins / failures", f"{ferry['signins']} / {ferry['failures']}"),
        ("machine busy cores / steal, Ferry window",
         f"{ferry['machine_busy_cores']:.2f} / {ferry['machine_steal_pct']:.1f}%"),
        ("other processes' cores: Ferry / ECDSA / argon2 windows",
         f"{ferry['other_cpu_cores']:.2f} / {verify['other_cpu_cores_before']:.2f}, "
         f"{sign['other_cpu_cores']:.2f}, {verify['other_cpu_cores_after']:.2f} / "
         f"{argon2['other_cpu_cores']:.2f}"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    for kind, failure in ferry["failure_kinds"].items():
        lines.append(f"  failure {kind} x{failure['count']}: {failure['first'][:300]!r}")
    noise = max(ferry["other_cpu_cores"], verify["other_cpu_cores_before"], sign["other_cpu_cores"],
                verify["other_cpu_cores_after"], argon2["other_cpu_cores"])
    if noise > NOISY_CORES:
        lines.append(f"  warning: other processes used up to {noise:.2f} cores meanwhile; "
                     "the ratios are not trustworthy, run again on a quiet machine")
        for window, busiest in (("Ferry", ferry["busiest_others"]),
                                ("ECDSA verify before", verify["busiest_others_before"]),
                                ("ECDSA verify after", verify["busiest_others_after"])):
            if busiest:
                lines.append(f"  busiest others, {window} window (cores): {busiest}")
    if ferry["workers_replaced"]:
        lines.append(f"  workers replaced during the window: {ferry['workers_replaced']}")
    if set(ferry["server_requests_matched"].values()) != {ferry["signins"]}:
        lines.append(f"  warning: gunicorn's access log holds {ferry['server_requests_matched']} "
                     f"requests for {ferry['signins']} sign-ins; the server times are incomplete")
    lines.append(summary(result))
    return "\n".join(lines)


def summary(result: dict) -> str:
    ferry = result["ferry"]
    options, verify = ferry["server_ms"]["options"], ferry["server_ms"]["verify"]
    if not ferry["signins"]:
        return "summary: no passkey sign-in succeeded"
    line = (f"summary: {ferry['signins_per_s']:.1f} passkey sign-ins/s, server p99 options "
            f"{options['p99']:.1f} ms, verify {verify['p99']:.1f} ms; "
            f"{result['throughput_ratio']:.4f} of raw ECDSA verifies/s; the ECDSA verify is "
            f"{result['cpu_ratio']:.1%} of Ferry's {ferry['ferry_cpu_ms_per_signin']:.1f} CPU ms "
            "per sign-in; "
            f"one argon2id verify costs {result['argon2_per_passkey_cpu']:.1f}x a whole passkey sign-in; "
            f"client signing {ferry['client_signing_cpu_ms_per_signin']:.2f} ms of "
            f"{ferry['client_cpu_ms_per_signin']:.1f} client CPU ms per sign-in")
    password = result["password_bench"]
    if password and password["signins_per_s"]:
        line += (f"; {ferry['signins_per_s'] / password['signins_per_s']:.1f}x the password "
                 f"sign-ins/s of signin.json (another run, full code flow)")
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20, help="measured window (default 20)")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up seconds (default 3)")
    parser.add_argument("--threads", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--users", type=int, default=40, help="users with a passkey (default 40)")
    parser.add_argument("--json", type=Path, default=RESULTS / "passkey.json")
    parser.add_argument("--signin-json", type=Path, default=RESULTS / "signin.json",
                        help="signin.py's figures to compare with, if present")
    args = parser.parse_args(argv)
    if args.users < args.threads:
        parser.error("--users must be at least --threads: each thread needs passkeys of its own")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up as on Ctrl-C
    with ExitStack() as stack:
        try:
            result = run(args, stack)
        except KeyboardInterrupt:
            progress("interrupted; stopping Ferry and cleaning up")
            return 130
    print(table(result))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    progress(f"figures written to {args.json}")
    return 1 if result["ferry"]["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
