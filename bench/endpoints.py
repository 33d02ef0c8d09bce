"""Ferry's endpoints that hash no password: their saturating rate, then latency at 70 % of it.

A throw-away Ferry (``gunicorn -w 2``, N returning users) and a mix of six operations, in turn:

* ``discovery``: ``GET /.well-known/openid-configuration``;
* ``jwks``: ``GET /.well-known/jwks.json``;
* ``authorize_page``: a fresh browser's ``GET /authorize`` (PKCE, state, nonce), answered with
  the sign-in page and its form;
* ``authorize_sso``: ``GET /authorize`` in a browser already signed in -> 302 to the app with a
  code (no password: single sign-on); the code goes to a queue for ``token``;
* ``token``: ``POST /token`` (Basic auth, PKCE verifier) for a queued code; the ID token's
  signature, iss, aud and nonce are checked;
* ``userinfo``: ``GET /userinfo`` with a valid access token.

First **closed loop**: client threads (2, 4, 8, 16...) each running the mix back to back, until one
more doubling gains under 5 %: the best rate is the saturating load. Then **open loop** at
``--load`` (default 70 %) of it: operations on a fixed schedule (operation *i* at t0 + i/rate,
sent by a pool of threads), each latency measured from its *scheduled* time, so a stalled
server cannot hide its backlog (no coordinated omission). Only the signing-in before the run
hashes a password. The aim (issue 16) is p99 under 50 ms per endpoint.

    .venv/bin/python bench/endpoints.py --seconds 10
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
import os
import queue
import resource
import secrets
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from ferry_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT_URI,
    busiest_others,
    create_accounts,
    machine_busy,
    machine_ticks,
    process_ticks,
    progress,
)
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from load_client import Browser, SignInFailed
from measure import (
    arguments,
    percentiles,
    report,
    run_and_report,
    run_setup,
    start_ferry,
    throwaway_ferry,
    worker_options,
)

MIX = ("discovery", "jwks", "authorize_page", "authorize_sso", "token", "userinfo")
AIM_P99_MS = 50.0
TIMEOUT = (5, 30)
#: gunicorn's access log: method, path, status and the request's microseconds in the worker.
ACCESS_FORMAT = "%(m)s %(U)s %(s)s %(D)s"
#: The request each operation makes, as the access log writes it (GET /authorize: by status).
OPERATIONS = {("GET", "/.well-known/openid-configuration"): "discovery",
              ("GET", "/.well-known/jwks.json"): "jwks", ("POST", "/token"): "token",
              ("GET", "/userinfo"): "userinfo"}


class Endpoints:
    """The six operations against one Ferry; each raises :class:`SignInFailed` on a wrong answer."""

    def __init__(self, base: str, keys: KeySet, browsers: list[requests.Session]) -> None:
        """``browsers``: signed-in cookie jars, each used by one thread at a time."""
        self.base, self.keys = base, keys
        self.browsers: queue.Queue[requests.Session] = queue.Queue()
        for browser in browsers:
            self.browsers.put(browser)
        self.codes: queue.Queue[tuple[str, str, str]] = queue.Queue()
        self.access_tokens: list[str] = []

    def _get(self, http, path_or_url: str, expect: int, step: str, **options) -> requests.Response:
        response = (http or requests).get(urljoin(self.base, path_or_url), allow_redirects=False,
                                          timeout=TIMEOUT, **options)
        if response.status_code != expect:
            raise SignInFailed(f"{step} -> {response.status_code}", response.text[:600])
        return response

    def discovery(self) -> None:
        """The OpenID configuration, with Ferry's issuer."""
        answer = self._get(None, "/.well-known/openid-configuration", 200, "discovery").json()
        if answer.get("issuer") != self.base:
            raise SignInFailed("discovery -> wrong issuer", repr(answer.get("issuer")))

    def jwks(self) -> None:
        """The signing keys, at least one."""
        if not self._get(None, "/.well-known/jwks.json", 200, "jwks").json().get("keys"):
            raise SignInFailed("jwks -> no keys")

    def _authorize(self, http, expect: int) -> tuple[requests.Response, str, str, str]:
        verifier, state, nonce = (secrets.token_urlsafe(n) for n in (48, 12, 12))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        response = self._get(http, "/authorize", expect, "GET /authorize", params={
            "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI,
            "scope": "openid email profile", "state": state, "nonce": nonce,
            "code_challenge": challenge.rstrip(b"=").decode(), "code_challenge_method": "S256"})
        return response, verifier, state, nonce

    def authorize_page(self) -> None:
        """A fresh browser's /authorize and the sign-in page it is sent to."""
        with requests.Session() as http:
            page = self._authorize(http, 200)[0]  # the sign-in page, in the same response
        if 'name="password"' not in page.text:
            raise SignInFailed("GET /authorize -> no password form", page.text[:600])

    def authorize_sso(self) -> None:
        """/authorize for a signed-in browser: straight back to the app with a code (queued)."""
        http = self.browsers.get()
        try:
            response, verifier, state, nonce = self._authorize(http, 302)
        finally:
            self.browsers.put(http)
        location = response.headers.get("Location", "")
        query = parse_qs(urlsplit(location).query)
        if not location.startswith(REDIRECT_URI + "?") or query.get("state") != [state]:
            raise SignInFailed("GET /authorize (signed in) -> not the app", location[:300])
        self.codes.put((query["code"][0], verifier, nonce))

    def token(self) -> None:
        """A queued code for tokens; the ID token checked, the access token kept."""
        try:
            code, verifier, nonce = self.codes.get(timeout=10)
        except queue.Empty:
            raise SignInFailed("token: no code queued in 10 s") from None
        response = requests.post(self.base + "/token", data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier}, auth=(CLIENT_ID, CLIENT_SECRET), timeout=TIMEOUT)
        if response.status_code != 200:
            raise SignInFailed(f"POST /token -> {response.status_code}", response.text[:600])
        answer = response.json()
        try:
            claims = jwt.decode(answer["id_token"], self.keys).claims
        except (JoseError, ValueError, KeyError) as error:
            raise SignInFailed("id_token -> not valid", f"{type(error).__name__}: {error}") from None
        wrong = {k: claims.get(k) for k, v in {"iss": self.base, "aud": CLIENT_ID,
                                               "nonce": nonce}.items() if claims.get(k) != v}
        if wrong or not answer.get("access_token"):
            raise SignInFailed("POST /token -> wrong tokens", repr(wrong))
        if len(self.access_tokens) < 64:
            self.access_tokens.append(answer["access_token"])

    def userinfo(self) -> None:
        """The claims for a kept access token."""
        token = secrets.choice(self.access_tokens)
        if not self._get(None, "/userinfo", 200, "GET /userinfo",
                         headers={"Authorization": f"Bearer {token}"}).json().get("sub"):
            raise SignInFailed("GET /userinfo -> no sub")

    def call(self, name: str) -> str | None:
        """Run operation ``name``; the failure's kind and detail, or None."""
        try:
            getattr(self, name)()
        except SignInFailed as error:
            return f"{error.kind}: {error.detail[:300]}"
        except Exception as error:  # noqa: BLE001 - a connection error is a finding too
            return f"{name}: {type(error).__name__}: {str(error)[:300]}"
        return None

    def fill(self, codes: int) -> None:
        """Queue ``codes`` codes (and keep access tokens) before a phase, so token never waits."""
        while len(self.access_tokens) < 8:
            if failure := self.call("authorize_sso") or self.call("token"):
                raise SystemExit(f"preparing tokens failed: {failure}")
        for _ in range(codes):
            if failure := self.call("authorize_sso"):
                raise SystemExit(f"preparing codes failed: {failure}")


def closed_loop(ends: Endpoints, threads: int, warmup: float, seconds: float) -> dict:
    """``threads`` threads running the mix back to back; completed operations per second."""
    stop, done, failures = threading.Event(), [], []

    def loop(number: int) -> None:
        for turn in itertools.count(number):
            if stop.is_set():
                return
            failure = ends.call(MIX[turn % len(MIX)])
            (failures if failure else done).append((time.monotonic(), failure))

    runners = [threading.Thread(target=loop, args=(n,), daemon=True) for n in range(threads)]
    for runner in runners:
        runner.start()
    time.sleep(warmup)
    t0 = time.monotonic()
    time.sleep(seconds)
    t1 = time.monotonic()
    stop.set()
    for runner in runners:
        runner.join(timeout=60)
    good = sum(t0 <= t < t1 for t, _ in done)
    return {"threads": threads, "ops_per_s": good / (t1 - t0), "failures": len(failures),
            "first_failure": failures[0][1] if failures else None}


def open_loop(ends: Endpoints, ferry, rate: float, warmup: float, seconds: float,
              senders: int, access_log: Path) -> dict:
    """Operations on a schedule at ``rate`` per second; latency from the scheduled send time."""
    ticket, records, failures = itertools.count(), [], []
    start = time.monotonic() + 0.5
    t0, t1 = start + warmup, start + warmup + seconds

    def send() -> None:
        while (due := start + (number := next(ticket)) / rate) < t1:
            time.sleep(max(0.0, due - time.monotonic()))
            sent, name = time.monotonic(), MIX[number % len(MIX)]
            failure = ends.call(name)
            ended = time.monotonic()
            if due >= t0:
                (failures if failure else records).append((name, ended - due, sent - due, failure))

    runners = [threading.Thread(target=send, daemon=True) for _ in range(senders)]
    for runner in runners:
        runner.start()
    time.sleep(max(0.0, t0 - time.monotonic()))
    cpu0, workers0 = ferry.cpu()
    client0, machine0, others0 = _own_cpu(), machine_ticks(), process_ticks()
    logged0 = access_log.stat().st_size if access_log.exists() else 0
    time.sleep(max(0.0, t1 - time.monotonic()))
    cpu1, workers1 = ferry.cpu()
    client1, machine1, others1 = _own_cpu(), machine_ticks(), process_ticks()
    logged1 = access_log.stat().st_size if access_log.exists() else 0
    for runner in runners:
        runner.join(timeout=60)
    in_workers = worker_times(access_log, logged0, logged1)
    busy, steal = machine_busy(machine0, machine1)
    ops = max(len(records), 1)
    kinds: dict[str, dict] = {}
    for name, *_, failure in failures:
        kinds.setdefault(name, {"count": 0, "first": failure})["count"] += 1
    return {
        "rate_per_s": rate, "seconds": seconds, "operations": len(records),
        "achieved_per_s": len(records) / seconds, "failures": len(failures), "failure_kinds": kinds,
        "latency_ms": {name: percentiles([r[1] for r in records if r[0] == name]) for name in MIX},
        "overall_ms": percentiles([r[1] for r in records]),
        # The same requests inside Ferry's workers (gunicorn's timer): what is left of the
        # latency above is the wait for a free worker and the client's own delay.
        "worker_ms": {name: percentiles(times) for name, times in in_workers.items()},
        "send_lag_ms": percentiles([r[2] for r in records]),
        "ferry_cpu_ms_per_op": 1000 * (cpu1 - cpu0) / ops, "ferry_cpu_cores": (cpu1 - cpu0) / seconds,
        "client_cpu_ms_per_op": 1000 * (client1 - client0) / ops,
        "other_cpu_cores": max(0.0, busy - (cpu1 - cpu0) - (client1 - client0)) / seconds,
        "machine_busy_cores": busy / seconds, "machine_steal_pct": 100 * steal,
        "busiest_others": busiest_others(
            others0, others1, {os.getpid(), ferry.process.pid} | workers0 | workers1, seconds),
        "workers_replaced": sorted(workers0 ^ workers1),
    }


def worker_times(access_log: Path, start: int, end: int) -> dict[str, list[float]]:
    """Seconds each request spent in a gunicorn worker, by operation, from the access log lines
    written between the byte offsets ``start`` and ``end`` (the open-loop window)."""
    times: dict[str, list[float]] = {name: [] for name in MIX}
    with access_log.open("rb") as log:
        log.seek(start)
        lines = log.read(max(0, end - start)).decode(errors="replace").splitlines()
    for line in lines:
        fields = line.split()
        if len(fields) == 4 and fields[3].isdigit():
            method, path, status, micros = fields
            name = OPERATIONS.get((method, path)) if path != "/authorize" else \
                "authorize_page" if status == "200" else "authorize_sso"
            if name:
                times[name].append(int(micros) / 1e6)
    return times


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(args: argparse.Namespace, stack: ExitStack) -> dict:
    """Ferry, the signed-in browsers, the closed-loop ladder, the open-loop run; the figures."""
    instance, port, environ = throwaway_ferry(stack, "ferry-bench-endpoints-", args.database)
    progress(f"instance {instance}; creating {args.users} returning users")
    accounts, params = create_accounts(environ, args.users)
    access_log = instance / "access.log"
    ferry = start_ferry(stack, environ, port, args.workers, instance,
                        keep={"endpoints-gunicorn.log": instance / "gunicorn.log"},
                        options=[*worker_options(args), "--access-logfile", str(access_log),
                                 "--access-logformat", ACCESS_FORMAT])
    keys = KeySet.import_key_set(requests.get(ferry.base + "/.well-known/jwks.json", timeout=5).json())
    browsers = []
    for account in accounts[:args.senders]:  # one per sender thread: never two at once in a jar
        browser = Browser(ferry.base, keys)
        browser.sign_in(account)
        stack.callback(browser.close)
        browsers.append(browser.http)
    progress(f"{len(browsers)} browsers signed in")
    ends = Endpoints(ferry.base, keys, browsers)

    ladder, best = [], None
    for threads in (2, 4, 8, 16, 32):
        ends.fill(20)
        step = closed_loop(ends, threads, 1.0, args.saturate_seconds)
        progress(f"closed loop, {threads} threads: {step['ops_per_s']:.0f} operations/s, "
                 f"{step['failures']} failures")
        ladder.append(step)
        if step["failures"] or (best and step["ops_per_s"] < 1.05 * best["ops_per_s"]):
            break
        best = step if not best or step["ops_per_s"] > best["ops_per_s"] else best
    best = max(ladder, key=lambda s: s["ops_per_s"])
    rate = args.load / 100 * best["ops_per_s"]
    progress(f"open loop at {args.load:.0f} % = {rate:.0f} operations/s for {args.seconds:.0f} s")
    while not ends.codes.empty():  # codes left from the ladder may be near their 60 s end
        ends.codes.get()
    ends.fill(max(20, round(rate / len(MIX))))
    measured = open_loop(ends, ferry, rate, args.warmup, args.seconds, args.senders, access_log)
    ladder_failures = sum(s["failures"] for s in ladder)
    if ladder_failures:
        first = next(s["first_failure"] for s in ladder if s["failures"])
        measured["failure_kinds"]["closed loop"] = {"count": ladder_failures, "first": first}
        measured["failures"] += ladder_failures
    p99 = {name: measured["latency_ms"][name]["p99"] for name in MIX}
    return {
        "ferry": measured, "saturation": {"ladder": ladder, "ops_per_s": best["ops_per_s"],
                                          "threads": best["threads"]},
        "p99_ms": p99, "aim_p99_ms": AIM_P99_MS,
        "over_aim": sorted(n for n, v in p99.items() if v is not None and v >= AIM_P99_MS),
        "setup": {"argon2": params, "mix": list(MIX), "load_pct": args.load,
                  "senders": args.senders, "saturate_seconds": args.saturate_seconds,
                  **run_setup(args, os.cpu_count() or 2), "client_threads": best["threads"]},
    }


def table(result: dict) -> str:
    """Per-endpoint latency at the open-loop rate, then the rates and noise; only the failures,
    and no figures, when anything failed."""
    ferry = result["ferry"]
    if ferry["failures"]:
        return "\n".join(["FAILED: no figures reported", *(
            f"  failure {kind} x{f['count']}: {f['first'][:300]!r}"
            for kind, f in ferry["failure_kinds"].items())])
    saturation = result["saturation"]

    def ms(figures: dict) -> str:
        return " / ".join("   n/a" if figures[q] is None else f"{figures[q]:6.1f}"
                          for q in ("p50", "p95", "p99"))

    rows = [(f"{name} p50 / p95 / p99 ms", ms(ferry["latency_ms"][name])
             + ("  (over the aim)" if name in result["over_aim"] else "")
             + f"   in a worker: {ms(ferry['worker_ms'][name])}") for name in MIX]
    rows += [
        ("all operations p50 / p95 / p99 ms", ms(ferry["overall_ms"])),
        ("saturating load (closed loop), operations/s",
         f"{saturation['ops_per_s']:.0f} with {saturation['threads']} threads  (ladder "
         + ", ".join(f"{s['threads']}: {s['ops_per_s']:.0f}" for s in saturation["ladder"]) + ")"),
        (f"open loop at {result['setup']['load_pct']:.0f} %, operations/s",
         f"{ferry['rate_per_s']:.0f} scheduled, {ferry['achieved_per_s']:.0f} done"),
        ("send lag p50 / p99 ms (client late)",
         f"{ferry['send_lag_ms']['p50']:.1f} / {ferry['send_lag_ms']['p99']:.1f}"),
        ("aim: every p99 under ms", f"{AIM_P99_MS:.0f}: " + (
            "met" if not result["over_aim"] else "missed by " + ", ".join(result["over_aim"]))),
        ("Ferry / client CPU ms per operation",
         f"{ferry['ferry_cpu_ms_per_op']:.2f} / {ferry['client_cpu_ms_per_op']:.2f}"),
        ("operations / failures", f"{ferry['operations']} / {ferry['failures']}"),
        ("machine busy cores / steal",
         f"{ferry['machine_busy_cores']:.2f} / {ferry['machine_steal_pct']:.1f}%"),
        ("other processes' cores", f"{ferry['other_cpu_cores']:.2f}"),
    ]
    return "\n".join(report(rows, ferry, []))


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run, print, write the JSON; 1 if any request failed."""
    parser = arguments(__doc__, "returning users", "endpoints.json")
    parser.set_defaults(seconds=10)
    parser.add_argument("--load", type=float, default=70.0,
                        help="open-loop rate, percent of the saturating load (default 70)")
    parser.add_argument("--saturate-seconds", type=float, default=4.0,
                        help="seconds per closed-loop step (default 4)")
    parser.add_argument("--senders", type=int, default=32,
                        help="open-loop sender threads (default 32)")
    return run_and_report(parser.parse_args(argv), run, table)


if __name__ == "__main__":
    sys.exit(main())
