"""Soak: Ferry under gunicorn for a long while with mixed traffic; errors and memory over time.

    make soak                  # 30 minutes; make soak MINUTES=2, or bench/soak.py --minutes 2

Ferry runs as ``gunicorn -w 2 'app:create_app()'`` on a throw-away instance (SQLite, or
``--database-url``) with the demo legacy IDP (``demo/legacy_idp.py``, password grant) as connector
``legacy``, served from this process; its soak users have cheap hashes there, Ferry's own keep
their default cost. Rate limits and the identifier throttle are lifted, as in ``bench/``. Client
threads, a fresh browser per action, mix first sign-ins (checked at the legacy IDP, created, the
passkey offer declined), returning sign-ins, wrong passwords, refresh-token rotations and userinfo
calls; every sign-in walks ``/authorize`` (PKCE) -> ``/login`` -> ``/token`` -> ``/userinfo``.
Every interval it records requests, errors and the RSS of gunicorn's master and workers.

It prints a table with a small chart of the total RSS, writes ``bench/results/soak.json`` and
``soak-gunicorn.log`` there, and exits 1 on any 5xx, transport error or unexpected answer, a
worker that died, or RSS growth beyond ``--max-growth`` percent: the median of the last three
samples against that of the first three after the warm-up (a quarter of the run, 5 min at most),
so argon2's 19 MiB buffers coming and going are not growth, a steady climb is.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import random
import secrets
import statistics
import sys
import threading
import time
from collections import Counter, deque
from contextlib import ExitStack
from pathlib import Path
from typing import NoReturn
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from argon2 import PasswordHasher
from ferry_server import ROOT, Gunicorn, free_port, progress
from load_client import hidden_fields
from measure import RESULTS, throwaway_ferry
from werkzeug.serving import make_server

sys.path.insert(0, str(ROOT))
from demo.legacy_idp import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, LegacyUser  # noqa: E402
from demo.legacy_idp import create_app as create_legacy_idp  # noqa: E402

CLIENT_ID, CLIENT_SECRET = "soak", "soak-client-secret-0123456789"
REDIRECT_URI = "http://127.0.0.1:9/cb"
MIX = {"first_sign_in": 0.15, "returning_sign_in": 0.40, "wrong_password": 0.15,
       "refresh": 0.15, "userinfo": 0.15}
TIMEOUT = (5, 60)


class Unexpected(Exception):
    """An answer the action did not expect; already counted."""


class Tally:
    """What every thread saw: statuses, errors by kind (with the first detail), actions."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests, self.server_errors, self.errors = 0, 0, 0
        self.statuses: Counter[int] = Counter()
        self.kinds: dict[str, dict] = {}
        self.actions: dict[str, list[float]] = {name: [] for name in MIX}
        self.failed_actions: Counter[str] = Counter()

    def answer(self, status: int) -> None:
        with self.lock:
            self.requests, self.server_errors = self.requests + 1, self.server_errors + (status >= 500)
            self.statuses[status] += 1

    def error(self, kind: str, detail: str) -> None:
        with self.lock:
            self.errors += 1
            self.kinds.setdefault(kind, {"count": 0, "first": " ".join(detail.split())[:400]})["count"] += 1


class Traffic:
    """The client side: the legacy users it made, the migrated ones, tokens to reuse."""

    def __init__(self, base: str, store, tally: Tally, legacy_users: int) -> None:
        self.base, self.tally = base, tally
        self.lock = threading.Lock()
        self.migrated: list[tuple[str, str]] = []
        self.tokens: deque[dict] = deque(maxlen=500)
        # All made before the traffic starts: the legacy IDP reads its user dict unlocked.
        # Their hashes are as cheap as argon2 allows; only Ferry's own are at full cost.
        hasher = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
        self.unmigrated: list[tuple[str, str]] = []
        for number in range(legacy_users):
            email, password = f"soak-{number:06d}@example.com", secrets.token_urlsafe(12)
            store.users[email] = LegacyUser(sub=f"soak-{number}", email=email, given_name="Soak",
                                            family_name=str(number), password_hash=hasher.hash(password))
            self.unmigrated.append((email, password))

    def call(self, http: requests.Session | None, method: str, path: str, expect: tuple[int, ...],
             step: str, **options) -> requests.Response:
        """One request (in ``http``'s cookie jar, or none), counted; Unexpected unless ``expect``."""
        try:
            response = (http or requests).request(method, urljoin(self.base, path), timeout=TIMEOUT,
                                    allow_redirects=False, **options)
        except requests.RequestException as error:
            self.tally.error(f"{step}: {type(error).__name__}", str(error))
            raise Unexpected from None
        self.tally.answer(response.status_code)
        if response.status_code not in expect:
            self.tally.error(f"{step} -> {response.status_code}", response.text)
            raise Unexpected
        return response

    def first_sign_in(self) -> None:
        with self.lock:
            if not self.unmigrated:
                self._fail("first_sign_in: the legacy users ran out", "raise the estimate")
            email, password = self.unmigrated.pop()
        self.tokens.append(self.sign_in(email, password, first=True))
        with self.lock:
            self.migrated.append((email, password))

    def returning_sign_in(self) -> None:
        self.tokens.append(self.sign_in(*self._someone()))

    def wrong_password(self) -> None:
        email, _password = self._someone()
        with requests.Session() as http:
            login = self._login_page(http)
            form = {**hidden_fields(login.text), "identifier": email, "password": "wrong-" + email}
            page = self.call(http, "POST", login.url, (200,), "POST /login (wrong password)", data=form)
            if 'name="password"' not in page.text or 'name="skip"' in page.text:
                self._fail("POST /login (wrong password) -> not the sign-in form", page.text)

    def refresh(self) -> None:
        tokens = self._take_tokens()
        self.tokens.append(self.call(None, "POST", "/token", (200,), "POST /token (refresh)", data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=(CLIENT_ID, CLIENT_SECRET)).json())  # rotated: the old refresh token is spent

    def userinfo(self) -> None:
        tokens = self._take_tokens()
        self.call(None, "GET", "/userinfo", (200,), "GET /userinfo",
                  headers={"Authorization": f"Bearer {tokens['access_token']}"})
        self.tokens.append(tokens)

    def _fail(self, kind: str, detail: str) -> NoReturn:
        self.tally.error(kind, detail)
        raise Unexpected

    def _someone(self) -> tuple[str, str]:
        with self.lock:
            return random.choice(self.migrated)  # nosec B311 # picks a test user, not a secret

    def _take_tokens(self) -> dict:
        try:
            return self.tokens.popleft()  # one thread at a time per token family (rotation)
        except IndexError:
            return self.sign_in(*self._someone())

    def _login_page(self, http: requests.Session, **authorize: str) -> requests.Response:
        return self.call(http, "GET", "/authorize", (200,), "GET /authorize (the sign-in page)",
                         params={"response_type": "code", "client_id": CLIENT_ID,
                                 "redirect_uri": REDIRECT_URI,
                                 "scope": "openid email profile offline_access", **authorize})

    def sign_in(self, email: str, password: str, first: bool = False) -> dict:
        """The code flow in a fresh browser, the passkey offer declined; the tokens. A first one
        asks for consent and allows it: a refresh token needs ``offline_access`` allowed once."""
        verifier, state = secrets.token_urlsafe(48), secrets.token_urlsafe(12)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        with requests.Session() as http:
            login = self._login_page(http, state=state, nonce=secrets.token_urlsafe(12),
                                     code_challenge=challenge.rstrip(b"=").decode(),
                                     code_challenge_method="S256", **({"prompt": "consent"} if first else {}))
            form = {**hidden_fields(login.text), "identifier": email, "password": password}
            login_url = self.base + "/login"  # where the page's form posts
            response = self.call(http, "POST", login_url, (200, 303), "POST /login", data=form)
            if response.status_code == 200 and 'name="skip"' in response.text:  # "Not now"
                response = self.call(http, "POST", login_url, (303,), "POST /login (offer)",
                                     data={**hidden_fields(response.text), "skip": "1"})
            if response.status_code != 303:
                self._fail("POST /login -> a page instead of the app", response.text)
            if urlsplit(response.headers["Location"]).path == "/authorize/consent":
                page = self.call(http, "GET", response.headers["Location"], (200,), "GET consent")
                response = self.call(http, "POST", "/authorize/consent", (302, 303), "POST consent",
                                     data={**hidden_fields(page.text), "decision": "allow"})
            query = parse_qs(urlsplit(response.headers["Location"]).query)
            if query.get("state") != [state] or "code" not in query:
                self._fail("POST /login -> wrong redirect", response.headers["Location"])
            tokens = self.call(http, "POST", "/token", (200,), "POST /token (code)", data={
                "grant_type": "authorization_code", "code": query["code"][0],
                "redirect_uri": REDIRECT_URI, "code_verifier": verifier},
                auth=(CLIENT_ID, CLIENT_SECRET)).json()
            self.call(http, "GET", "/userinfo", (200,), "GET /userinfo",
                      headers={"Authorization": f"Bearer {tokens['access_token']}"})
        if not tokens.get("refresh_token"):
            self._fail("POST /token (code) -> no refresh token", json.dumps(sorted(tokens)))
        return tokens

    def run(self, stop: threading.Event) -> None:
        """Actions in the mix until ``stop``; each one timed and counted."""
        names, weights = list(MIX), list(MIX.values())
        while not stop.is_set():
            pick = random.choices(names, weights)[0]  # nosec B311 # a traffic mix, not a secret
            name = pick if self.migrated else "first_sign_in"
            began = time.monotonic()
            try:
                getattr(self, name)()
            except Exception as error:  # noqa: BLE001 - the soak reports it, and goes on
                if not isinstance(error, Unexpected):  # (that one was counted where it happened)
                    self.tally.error(f"{name}: {type(error).__name__}", str(error))
                self.tally.failed_actions[name] += 1
                stop.wait(0.1)  # no busy loop against a server that is down
            else:
                self.tally.actions[name].append(time.monotonic() - began)


def start_legacy_idp(stack: ExitStack):
    """The demo legacy IDP on a free port, in a thread of this process; its user store."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    app = create_legacy_idp()
    server = make_server("127.0.0.1", port := free_port(), app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True, name="legacy-idp").start()
    stack.callback(server.shutdown)
    return port, app.extensions["demo_legacy_idp"]


def write_config(instance: Path, port: int, idp_port: int, database_url: str | None) -> Path:
    """Ferry's ``ferry.toml``: the legacy IDP as connector ``legacy``, the soak app, no limits."""
    config = instance / "ferry.toml"
    database = f'database_url = "{database_url}"\n' if database_url else ""
    config.write_text(f"""\
[ferry]
issuer = "http://127.0.0.1:{port}"
webauthn_rp_id = "localhost"
secret_key = "soak-secret-key-not-for-production-0123456789"
log_level = "WARNING"
signin_rate_limit = "1000000 per minute"
token_rate_limit = "1000000 per minute"
failed_signins_per_identifier = "1000000 per minute"
{database}
[connectors.legacy]
type = "ropc"
token_url = "http://127.0.0.1:{idp_port}/oauth/token"
userinfo_url = "http://127.0.0.1:{idp_port}/userinfo"
client_id = "{DEFAULT_CLIENT_ID}"
client_secret = "{DEFAULT_CLIENT_SECRET}"
client_auth = "basic"
scope = "openid email profile"

[apps.{CLIENT_ID}]
name = "Soak"
client_secret = "{CLIENT_SECRET}"
redirect_uris = ["{REDIRECT_URI}"]
grant_types = ["authorization_code", "refresh_token"]
""", encoding="utf-8")
    return config


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MB (0 if it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    rss = (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return next(rss, 0) / 1024


# -- the report ---------------------------------------------------------------------------------
def chart_bar(value: float, floor: float, top: float, width: int = 28) -> str:
    """A bar of eighths: ``value`` between ``floor`` (empty) and ``top`` (full width)."""
    eighths = round(max(value - floor, 0) / max(top - floor, 1e-9) * width * 8)
    return "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]


def print_report(rows: list[dict], result: dict) -> None:
    floor = max(0.0, int(min(r["total_mb"] for r in rows) * 0.9 / 10) * 10)
    top = max(r["total_mb"] for r in rows)
    print(f"\n  time  requests  req/s  5xx  errors  master MB  workers MB  total MB   "
          f"total RSS from {floor:.0f} to {top:.0f} MB")
    for row in rows:
        minutes, seconds = divmod(int(row["t"]), 60)
        print(f"{minutes:3d}:{seconds:02d}  {row['requests']:8d}  {row['rps']:5.1f}  {row['5xx']:3d}  "
              f"{row['errors']:6d}  {row['master_mb']:9.1f}  {row['workers_mb']:10.1f}  "
              f"{row['total_mb']:8.1f}   {chart_bar(row['total_mb'], floor, top)}")
    print(f"\nactions ({result['requests']} requests, {result['requests_per_s']:.1f}/s):")
    for name, figures in result["actions"].items():
        print(f"  {name:18s} {figures['done']:6d} done, {figures['failed']:3d} failed, "
              f"p50 {figures['p50_ms']:6.0f} ms, p95 {figures['p95_ms']:6.0f} ms")
    print(f"statuses: {dict(sorted(result['statuses'].items()))}", *(
        f"\n  error {kind}: {entry['count']}x, first: {entry['first'][:200]}"
        for kind, entry in result["error_kinds"].items()), sep="")
    memory = result["memory"]
    print(f"memory: {memory['baseline_mb']:.1f} MB after warm-up -> {memory['end_mb']:.1f} MB at the "
          f"end ({memory['growth_pct']:+.1f}%, limit {memory['max_growth_pct']:.0f}%); "
          f"worker restarts: {result['worker_restarts']}")
    print("verdict: " + ("PASS" if not result["problems"] else "FAIL: " + "; ".join(result["problems"])))


def _ms(values: list[float], quantile: int) -> float:
    """The ``quantile``-th percentile of ``values`` (seconds) in milliseconds."""
    return 1000 * (statistics.quantiles(values, n=100)[quantile - 1] if len(values) > 1 else sum(values))


# -- the run ------------------------------------------------------------------------------------
def run(args: argparse.Namespace, stack: ExitStack) -> dict:
    seconds = args.minutes * 60
    interval = min(args.interval or max(5.0, seconds / 24), seconds)  # at least one row
    warmup = min(300.0, seconds / 4)
    idp_port, store = start_legacy_idp(stack)
    instance, port, environ = throwaway_ferry(stack, "ferry-soak-")
    environ["FERRY_CONFIG"] = str(write_config(instance, port, idp_port, args.database_url))
    progress(f"instance {instance}; legacy IDP on 127.0.0.1:{idp_port}; gunicorn -w {args.workers}")
    ferry = Gunicorn(environ, port, args.workers, instance / "gunicorn.log")
    stack.callback(lambda: (RESULTS.mkdir(parents=True, exist_ok=True),
                            (RESULTS / "soak-gunicorn.log").write_bytes(ferry.log.read_bytes())))
    stack.callback(ferry.stop)
    with requests.Session() as probe:
        ferry.wait_ready(probe)

    tally, stop = Tally(), threading.Event()
    # A first sign-in takes Ferry one full-cost argon2 hash: a few per second at most here.
    traffic = Traffic(ferry.base, store, tally, legacy_users=int(seconds * 6) + 200)
    clients = [threading.Thread(target=traffic.run, args=(stop,), daemon=True)
               for _ in range(args.threads)]
    workers_seen, rows, began, last = set(ferry.worker_pids()), [], time.monotonic(), (0, 0, 0)
    for client in clients:
        client.start()
    progress(f"soaking {args.minutes:g} min with {args.threads} client threads; a row every {interval:.0f} s")
    try:
        while (elapsed := time.monotonic() - began) < seconds:
            time.sleep(min(interval, seconds - elapsed))
            workers = ferry.worker_pids()
            workers_seen.update(workers)
            now = (tally.requests, tally.server_errors, tally.errors)
            row = {"t": time.monotonic() - began, "requests": now[0] - last[0],
                   "rps": (now[0] - last[0]) / interval, "5xx": now[1] - last[1],
                   "errors": now[2] - last[2], "master_mb": rss_mb(ferry.process.pid),
                   "workers_mb": sum(rss_mb(pid) for pid in workers), "workers": len(workers)}
            row["total_mb"] = row["master_mb"] + row["workers_mb"]
            rows.append(row)
            last = now
            progress(f"{row['t']:6.0f} s: {row['requests']} requests, {row['errors']} errors, "
                     f"RSS {row['total_mb']:.1f} MB")
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=90)

    after = [r["total_mb"] for r in rows if r["t"] >= warmup] or [r["total_mb"] for r in rows]
    baseline, end = statistics.median(after[:3]), statistics.median(after[-3:])
    growth = 100 * (end - baseline) / baseline if baseline else 0.0
    restarts = len(workers_seen) - args.workers
    others = tally.errors - tally.server_errors  # a 5xx is always an error too
    problems = [text for found, text in (
        (tally.server_errors, f"{tally.server_errors} answers were 5xx"),
        (others, f"{others} other errors (transport, unexpected answers)"),
        (restarts, f"{restarts} workers were replaced (one died or timed out)"),
        (growth > args.max_growth, f"RSS grew {growth:.1f}% (> {args.max_growth:g}%)")) if found]
    return {
        "minutes": args.minutes, "workers": args.workers, "threads": args.threads,
        "database": args.database_url or "sqlite", "requests": tally.requests,
        "requests_per_s": tally.requests / max(seconds, 1), "statuses": dict(tally.statuses),
        "actions": {name: {"done": len(times), "failed": tally.failed_actions[name],
                           "p50_ms": _ms(times, 50), "p95_ms": _ms(times, 95)}
                    for name, times in tally.actions.items()},
        "error_kinds": tally.kinds, "rows": rows, "worker_restarts": restarts,
        "memory": {"warmup_s": warmup, "baseline_mb": baseline, "end_mb": end,
                   "growth_pct": growth, "max_growth_pct": args.max_growth},
        "problems": problems,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long (default 30)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--interval", type=float, default=0.0,
                        help="seconds between rows (default: the run / 24, at least 5)")
    parser.add_argument("--max-growth", type=float, default=20.0,
                        help="RSS growth allowed after warm-up, percent (default 20)")
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL database to soak on (default: SQLite in the instance)")
    args = parser.parse_args()
    with ExitStack() as stack:
        result = run(args, stack)
    print_report(result["rows"], result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
