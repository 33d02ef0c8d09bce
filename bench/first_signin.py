"""First (migrating) sign-ins through Ferry's code flow, against the legacy IdP's own latency.

One run on one machine, with a throw-away Ferry (``gunicorn -w 2``) whose connector ``legacy``
(``ropc``) points at the bench legacy IdP in a gunicorn process of its own (``legacy_peer.py``:
the demo legacy IdP holding N users Ferry does not know yet). It measures:

* **legacy IdP alone**: one credential check as the connector makes it (password grant, then
  userinfo, kept-alive connections), half before and half after Ferry's windows;
* **first sign-ins**: a fresh browser per sign-in, each legacy user exactly once:
  ``/authorize`` (PKCE, state, nonce; it answers with the sign-in page) -> ``POST /login`` (the journey checks
  the password at the legacy IdP, creates the user and hashes the password with argon2id) -> the
  passkey offer, answered "Not now" -> the code from the 303 -> ``POST /token``, and the ID
  token checked (signature, iss, aud, nonce, the migrated e-mail address);
* **returning sign-ins**: the same flow for users already in Ferry (as ``signin.py``);
* **one argon2id hash** with Ferry's parameters, in one process (the floor of a first sign-in).

Overhead = first sign-in latency - legacy IdP latency (p50 and p99 each); the aim is one hash
plus 20 ms. See bench/README.md.

    .venv/bin/python bench/first_signin.py --seconds 10
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import sys
import threading
import time
from contextlib import ExitStack
from functools import partial
from urllib.parse import parse_qs, urlsplit

import requests
from argon2 import PasswordHasher
from ferry_server import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, create_accounts, progress
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from legacy_peer import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, LegacyPeer, legacy_user
from load_client import CodeFlowLoad, Load, Outcome, SignInFailed, hidden_fields
from measure import (
    arguments,
    baseline,
    measure_ferry,
    percentiles,
    report,
    run_and_report,
    run_setup,
    start_ferry,
    throwaway_ferry,
    worker_options,
)

AIM_MS = 20.0  # issue 16: a first sign-in should add at most one hash plus this over the legacy IdP


def write_connector(config_path, legacy: LegacyPeer) -> None:
    """Add connector ``legacy`` (``ropc`` at the bench legacy IdP) to the bench's ferry.toml,
    which ``ferry_server.write_config`` wrote; the shipped sign-in journey then uses it."""
    with open(config_path, "a", encoding="utf-8") as config:
        config.write(f"""
[connectors.legacy]
type = "ropc"
token_url = "{legacy.token_url}"
userinfo_url = "{legacy.userinfo_url}"
client_id = "{DEFAULT_CLIENT_ID}"
client_secret = "{DEFAULT_CLIENT_SECRET}"
client_auth = "basic"
scope = "openid email profile"
""")


def argon2_hasher(params: dict):
    """For :func:`measure.baseline`: ``PasswordHasher.hash`` with Ferry's parameters (a first
    sign-in hashes the password it migrates; a returning one verifies)."""
    hasher = PasswordHasher(**params)
    return lambda: hasher.hash("correct horse battery 0000")


class FirstSignIns(Load):
    """Fresh browsers signing in each legacy user once; the passkey offer answered "Not now"."""

    def __init__(self, base: str, keys: KeySet, seed: str, users: int, threads: int) -> None:
        """``users`` legacy users (numbered from 0) with passwords from ``seed``."""
        super().__init__(threads)
        self.base, self.keys, self.seed, self.users = base, keys, seed, users
        self._next, self._lock = 0, threading.Lock()

    def _take(self) -> int:
        with self._lock:
            number, self._next = self._next, self._next + 1
        if number >= self.users:
            self.stop.set()
            raise SignInFailed("legacy users ran out", f"raise --first-users above {self.users}")
        return number

    def sign_in(self, number: int, turn: int) -> dict:
        """One first sign-in; the seconds of each step, and up to the app's code."""
        email, password = legacy_user(self._take(), self.seed)
        with requests.Session() as http:
            return self._flow(http, email, password)

    def _flow(self, http: requests.Session, email: str, password: str) -> dict:
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        state, nonce, timeout, steps = secrets.token_urlsafe(12), secrets.token_urlsafe(12), (5, 60), {}
        began = time.monotonic()

        def step(name: str, status: tuple[int, ...], method: str, url: str, **options):
            t = time.monotonic()
            response = http.request(method, url, allow_redirects=False, timeout=timeout, **options)
            steps[name] = time.monotonic() - t
            if response.status_code not in status:
                raise SignInFailed(f"{name} -> {response.status_code}", response.text[:600])
            return response

        page = step("authorize", (200,), "GET", self.base + "/authorize", params={
            "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI,
            "scope": "openid email profile", "state": state, "nonce": nonce,
            "code_challenge": challenge.rstrip(b"=").decode(), "code_challenge_method": "S256"})
        login = self.base + "/login"  # where the sign-in page's form posts
        response = step("post_login", (200,), "POST", login, data={
            **hidden_fields(page.text), "identifier": email, "password": password})
        if 'name="skip"' not in response.text:  # the migrated user is offered a passkey
            raise SignInFailed("POST /login -> not the passkey offer", response.text[:600])
        response = step("offer_not_now", (303,), "POST", login,
                        data={**hidden_fields(response.text), "skip": "1"})
        to_code = time.monotonic() - began
        location = response.headers.get("Location", "")
        query = parse_qs(urlsplit(location).query)
        if not location.startswith(REDIRECT_URI + "?") or query.get("state") != [state]:
            raise SignInFailed("POST /login (offer) -> wrong redirect", location[:300])
        answer = step("token", (200,), "POST", self.base + "/token", data={
            "grant_type": "authorization_code", "code": query["code"][0],
            "redirect_uri": REDIRECT_URI, "code_verifier": verifier},
            auth=(CLIENT_ID, CLIENT_SECRET)).json()
        try:
            claims = jwt.decode(answer["id_token"], self.keys).claims
        except (JoseError, ValueError, KeyError) as error:
            raise SignInFailed("id_token -> not valid", f"{type(error).__name__}: {error}") from None
        expected = {"iss": self.base, "aud": CLIENT_ID, "nonce": nonce, "email": email}
        wrong = {k: claims.get(k) for k, v in expected.items() if claims.get(k) != v}
        if wrong or not claims.get("sub"):
            raise SignInFailed("id_token -> wrong claims", repr(wrong or claims))
        return {"to_code": to_code, **steps}


class LegacyChecks(Load):
    """Client threads calling the legacy IdP directly, one kept-alive session each."""

    def __init__(self, legacy: LegacyPeer, seed: str, threads: int) -> None:
        """Checks of the legacy users' passwords, taken in turn."""
        super().__init__(threads)
        self.legacy, self.seed = legacy, seed
        self.sessions = [requests.Session() for _ in range(threads)]

    def sign_in(self, number: int, turn: int) -> dict:
        """One credential check (token + userinfo); RuntimeError becomes a failure."""
        email, password = legacy_user((number + turn * self.threads) % self.legacy.users, self.seed)
        try:
            self.legacy.check(self.sessions[number], email, password)
        except RuntimeError as error:
            raise SignInFailed("legacy check", str(error)) from None
        return {}


def legacy_window(legacy: LegacyPeer, seed: str, threads: int, warmup: float, seconds: float) -> dict:
    """Direct legacy checks for ``seconds`` after ``warmup``: latencies and failures."""
    load = LegacyChecks(legacy, seed, threads)
    runners = load.start()
    time.sleep(warmup)
    t0 = time.monotonic()
    time.sleep(seconds)
    t1 = time.monotonic()
    load.stop.set()
    for runner in runners:
        runner.join(timeout=60)
    for http in load.sessions:
        http.close()
    window = [o for o in list(load.outcomes) if t0 <= o.finished < t1]
    failed = [o.failure for o in window if o.failure]
    return {"seconds": [o.seconds for o in window if not o.failure], "failures": len(failed),
            "first_failure": failed[0].detail[:600] if failed else None}


def _first_figures(good: list[Outcome]) -> dict:
    steps = ("authorize", "post_login", "offer_not_now", "token")
    return {"latency_ms": percentiles([o.seconds for o in good]),
            "to_code_ms": percentiles([o.figures["to_code"] for o in good]),
            "step_ms": {s: percentiles([o.figures[s] for o in good]) for s in steps}}


def _returning_figures(good: list[Outcome]) -> dict:
    return {"latency_ms": percentiles([o.seconds for o in good])}


def run(args: argparse.Namespace, stack: ExitStack) -> dict:
    """The whole benchmark: legacy IdP, Ferry, the four measurements; the figures."""
    first_users = args.first_users or int((args.warmup + args.seconds) * 40 * args.threads) + 100
    seed = secrets.token_urlsafe(6)
    instance, port, environ = throwaway_ferry(stack, "ferry-bench-first-", args.database)
    progress(f"legacy IdP with {first_users} users ({args.legacy_hash} hashes)")
    legacy = LegacyPeer(first_users, seed, args.legacy_hash, instance / "legacy.log")
    stack.callback(legacy.stop)
    legacy.wait_ready()
    write_connector(environ["FERRY_CONFIG"], legacy)
    progress(f"instance {instance}; creating {args.users} returning users")
    accounts, params = create_accounts(environ, args.users)

    half = args.seconds / 2
    progress(f"legacy IdP alone, first half: {half:.1f} s, {args.threads} threads")
    before = legacy_window(legacy, seed, args.threads, 1.0, half)
    progress("one argon2id hash, Ferry's parameters, one process")
    hashing = baseline(partial(argon2_hasher, params), max(2.0, half / 2), 1, stack)

    ferry = start_ferry(stack, environ, port, args.workers, instance,
                        keep={"first-signin-gunicorn.log": instance / "gunicorn.log",
                              "first-signin-legacy.log": instance / "legacy.log"},
                        options=worker_options(args))
    keys = KeySet.import_key_set(requests.get(ferry.base + "/.well-known/jwks.json", timeout=5).json())
    first_load = FirstSignIns(ferry.base, keys, seed, first_users, args.threads)
    stack.callback(first_load.stop.set)
    progress("first sign-ins")
    legacy_cpu, began = legacy.cpu()[0], time.monotonic()
    first = measure_ferry(ferry, first_load, args.warmup, args.seconds, _first_figures)
    # The legacy IdP is no "other process": its CPU, warm-up included, per sign-in it served.
    used = min(first_load._next, first_users)  # noqa: SLF001
    legacy_cpu = legacy.cpu()[0] - legacy_cpu
    first.update(legacy_users_used=used, legacy_cpu_ms_per_signin=1000 * legacy_cpu / max(used, 1),
                 legacy_cpu_cores=legacy_cpu / (time.monotonic() - began),
                 other_cpu_cores=max(0.0, first["other_cpu_cores"]
                                     - legacy_cpu / (time.monotonic() - began)))
    returning_load = CodeFlowLoad(ferry.base, keys, accounts, args.threads)
    stack.callback(returning_load.stop.set)
    progress("returning sign-ins")
    returning = measure_ferry(ferry, returning_load, args.warmup, args.seconds, _returning_figures)

    progress(f"legacy IdP alone, second half: {half:.1f} s")
    after = legacy_window(legacy, seed, args.threads, 1.0, half)
    direct = {"latency_ms": percentiles(before["seconds"] + after["seconds"]),
              "latency_ms_before": percentiles(before["seconds"]),
              "latency_ms_after": percentiles(after["seconds"]),
              "checks": len(before["seconds"]) + len(after["seconds"]),
              "failures": before["failures"] + after["failures"],
              "first_failure": before["first_failure"] or after["first_failure"]}
    hash_ms = 1000 / hashing["per_s"]
    overhead = {q: first["latency_ms"][q] - direct["latency_ms"][q]
                if first["signins"] and direct["checks"] else None for q in ("p50", "p99")}
    return {
        "ferry": first, "returning": returning, "legacy": direct,
        "argon2_hash": {"ms_per_hash": hash_ms, "cpu_ms_per_hash": hashing["cpu_ms"],
                        "hashes": hashing["operations"],
                        "other_cpu_cores": hashing["other_cpu_cores"]},
        "overhead_ms": overhead, "aim_ms": hash_ms + AIM_MS,
        "overhead_minus_hash_ms": {q: v - hash_ms if v is not None else None
                                   for q, v in overhead.items()},
        "first_minus_returning_ms": {q: first["latency_ms"][q] - returning["latency_ms"][q]
                                     if first["signins"] and returning["signins"] else None
                                     for q in ("p50", "p99")},
        "setup": {"argon2": params, "first_users": first_users, "legacy_hash": args.legacy_hash,
                  "legacy_idp": "demo/legacy_idp.py under gunicorn -w 1 -k gthread (bench/legacy_peer.py)",
                  **run_setup(args, os.cpu_count() or 2)},
    }


def _ms(figures: dict, quantiles=("p50", "p95", "p99")) -> str:
    return " / ".join("n/a" if figures[q] is None else f"{figures[q]:.1f}" for q in quantiles)


def _failure_lines(result: dict) -> list[str]:
    """What went wrong, if anything: any failed sign-in or legacy check, or none measured."""
    lines = []
    for key, name in (("ferry", "first"), ("returning", "returning")):
        for kind, failure in result[key]["failure_kinds"].items():
            lines.append(f"{name} sign-in failure {kind} x{failure['count']}: {failure['first'][:300]!r}")
        if not result[key]["signins"]:
            lines.append(f"no {name} sign-in completed inside the window")
    if result["legacy"]["failures"] or not result["legacy"]["checks"]:
        lines.append(f"legacy checks: {result['legacy']['checks']} good, "
                     f"{result['legacy']['failures']} failed: {result['legacy']['first_failure']!r}")
    return lines


def table(result: dict) -> str:
    """The printed table (rows aligned, noise warnings after them); only the failures, and no
    figures, when anything failed."""
    if failures := _failure_lines(result):
        return "\n".join(["FAILED: no figures reported", *failures])
    first, returning, legacy = result["ferry"], result["returning"], result["legacy"]
    overhead, aim = result["overhead_ms"], result["aim_ms"]
    verdict = {q: "n/a" if v is None else ("within" if v <= aim else "above")
               for q, v in overhead.items()}
    rows = [
        ("legacy IdP check alone p50 / p95 / p99 ms", f"{_ms(legacy['latency_ms'])}  "
         f"({legacy['checks']} checks, p50 before {_ms(legacy['latency_ms_before'], ('p50',))}, "
         f"after {_ms(legacy['latency_ms_after'], ('p50',))})"),
        ("first sign-in p50 / p95 / p99 ms", _ms(first["latency_ms"])),
        ("  of it POST /login (legacy, create, hash)", _ms(first["step_ms"]["post_login"])),
        ("  up to the app's code", _ms(first["to_code_ms"])),
        ("returning sign-in p50 / p95 / p99 ms", _ms(returning["latency_ms"])),
        ("argon2id hash ms (one process)", f"{result['argon2_hash']['ms_per_hash']:.1f}"),
        ("overhead p50 (first - legacy) ms", "n/a" if overhead["p50"] is None else
         f"{overhead['p50']:.1f}  (aim {aim:.1f} = hash + {AIM_MS:.0f}: {verdict['p50']})"),
        ("overhead p99 (first - legacy) ms", "n/a" if overhead["p99"] is None else
         f"{overhead['p99']:.1f}  (aim {aim:.1f}: {verdict['p99']})"),
        ("first - returning p50 / p99 ms", _ms(result["first_minus_returning_ms"], ("p50", "p99"))),
        ("Ferry CPU ms per first / returning sign-in",
         f"{first['ferry_cpu_ms_per_signin']:.1f} / {returning['ferry_cpu_ms_per_signin']:.1f}"),
        ("legacy IdP CPU ms per first sign-in", f"{first['legacy_cpu_ms_per_signin']:.1f}"),
        ("first sign-ins / failures", f"{first['signins']} / {first['failures']}"),
        ("returning sign-ins / failures", f"{returning['signins']} / {returning['failures']}"),
        ("legacy checks failed", str(legacy["failures"])),
        ("other processes' cores: first / returning",
         f"{first['other_cpu_cores']:.2f} / {returning['other_cpu_cores']:.2f}"),
    ]
    return "\n".join(report(rows, first, [("returning", returning["other_cpu_cores"],
                                         returning["busiest_others"])]))


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run, print, write the JSON; 1 if any sign-in or check failed."""
    parser = arguments(__doc__, "returning users", "first-signin.json")
    parser.set_defaults(threads=1, seconds=10)
    parser.add_argument("--first-users", type=int, default=0,
                        help="legacy users to migrate (default: enough for the window)")
    parser.add_argument("--legacy-hash", default="cheap", choices=("cheap", "demo"),
                        help="the legacy IdP's password hashes (default cheap: argon2id t=1, "
                        "m=64 KiB; demo: argon2-cffi's defaults)")
    args = parser.parse_args(argv)
    status = run_and_report(args, run, table)
    return 1 if status == 0 and _failure_lines(json.loads(args.json.read_text())) else status

if __name__ == "__main__":
    sys.exit(main())
