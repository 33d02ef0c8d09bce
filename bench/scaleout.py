"""Scale-out: two Ferry servers on one PostgreSQL against one server, in the same run.

One throw-away PostgreSQL database with N returning users (as signin.py), then two windows, one
after the other, with the same gunicorn workers and the same client threads *per server*:

1. **one server**: ``gunicorn -w W`` Ferry (server A) on that database;
2. **two servers**: A and a second, independent gunicorn Ferry (server B: its own port and
   instance folder) on the SAME database and the SAME ``ferry.toml`` (issuer, secret key, app).
   The client threads are split half and half; a thread talking to B sends the issuer's ``Host``
   as a load balancer would, and checks the ID token against the issuer and the JWKS fetched
   from A once. Signing keys live in the database (provider/keys.py), so before the window the
   run checks that A and B publish the same JWKS, that B's discovery names the same issuer,
   and that a token issued by B verifies with A's keys.

Each sign-in is signin.py's full code flow (``/authorize`` -> ``POST /login`` -> ``POST
/token``, ID token checked). Reported per window: sign-ins/s and the ratio two / one (issue 16
aims at 1.8x), CPU ms per sign-in of every gunicorn process of every server, PostgreSQL's CPU
(the bench database's backends, and every ``postgres`` process), client CPU, latency, failures
and the machine's busy cores. Two servers on one machine can only scale if one server left
cores idle: read the busy cores before the ratio. Any failed sign-in or server that does not
start: exit 1, no figures.

    .venv/bin/python bench/scaleout.py --seconds 10
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import requests
from ferry_server import CLOCK_TICK, Account, Gunicorn, create_accounts, free_port, progress
from joserfc.jwk import KeySet
from load_client import Browser, CodeFlowLoad, Outcome, SignInFailed
from measure import (
    NOISY_CORES,
    arguments,
    measure_ferry,
    percentiles,
    report,
    run_setup,
    start_ferry,
    throwaway_ferry,
    worker_options,
)

SATURATED = 0.9  # share of the cores busy in the one-server window above which the machine is the limit


# -- the load: one issuer, several servers ----------------------------------------------------
class RoutedSession(requests.Session):
    """A session that sends requests for ``public`` (the issuer) to ``target`` (one server),
    with the issuer's Host header, as a load balancer in front of the servers would."""

    def __init__(self, public: str, target: str) -> None:
        """``public`` and ``target`` are base URLs (scheme, host, port)."""
        super().__init__()
        self.public, self.target = public, target
        self.headers["Host"] = urlsplit(public).netloc

    def request(self, method, url, *args, **kwargs):  # noqa: D102 - requests.Session's
        if url.startswith(self.public):
            url = self.target + url[len(self.public):]
        return super().request(method, url, *args, **kwargs)


class RoutedBrowser(Browser):
    """load_client's fresh browser, signing in at ``issuer`` through the server ``target``:
    the ID token's ``iss`` is checked against the issuer, its signature against ``keys``."""

    def __init__(self, issuer: str, target: str, keys: KeySet) -> None:
        """A fresh cookie jar routed to ``target``."""
        super().__init__(issuer, keys)
        self.http.close()
        self.http = RoutedSession(issuer, target)


class ScaleOutLoad(CodeFlowLoad):
    """``threads`` client threads per server; thread n signs in through server n mod servers."""

    def __init__(self, issuer: str, targets: list[str], keys: KeySet, accounts: list[Account],
                 threads: int) -> None:
        """``targets``: the servers' base URLs; ``keys``: the JWKS fetched from the first."""
        super().__init__(issuer, keys, accounts, threads * len(targets))
        self.targets = targets

    def sign_in(self, number: int, turn: int) -> dict:
        """One code flow through this thread's server; the figures name the server."""
        server = number % len(self.targets)
        browser = RoutedBrowser(self.base, self.targets[server], self.keys)
        try:
            browser.sign_in(self.accounts[(number + turn * self.threads) % len(self.accounts)])
        finally:
            browser.close()
        return {"server": server}


# -- CPU of several servers and of PostgreSQL -------------------------------------------------
def postgres_ticks(database: str) -> tuple[int, dict[int, int]]:
    """CPU ticks of every ``postgres`` process (reaped backends included, through the
    postmaster's children's time), and of each live backend of ``database``."""
    every, backends = 0, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
            if raw[raw.index("(") + 1:raw.rindex(")")] != "postgres":
                continue
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
        every += ticks
        if f" {database} " in command:
            backends[int(entry)] = ticks
    return every, backends


class Servers:
    """Several :class:`Gunicorn` as one for ``measure.measure_ferry``: ``cpu()`` adds up every
    master and worker, and reads PostgreSQL at the same two moments (the window's edges)."""

    def __init__(self, servers: list[Gunicorn], database: str) -> None:
        """``database``: the PostgreSQL database whose backends are Ferry's."""
        self.servers, self.database = servers, database
        self.process, self.base = servers[0].process, servers[0].base
        self.postgres: list[tuple[int, dict[int, int]]] = []

    def cpu(self) -> tuple[float, set[int]]:
        """CPU seconds of every server's master and workers, and their PIDs (masters too)."""
        total, pids = 0.0, set()
        for server in self.servers:
            seconds, workers = server.cpu()
            total, pids = total + seconds, pids | workers | {server.process.pid}
        self.postgres.append(postgres_ticks(self.database))
        return total, pids

    def postgres_figures(self, seconds: float, signins: int) -> dict:
        """PostgreSQL's CPU between the last two ``cpu()`` calls."""
        (every0, backends0), (every1, backends1) = self.postgres[-2:]
        mine = sum(t - backends0.get(pid, 0) for pid, t in backends1.items()) / CLOCK_TICK
        return {"postgres_bench_cores": mine / seconds,
                "postgres_bench_cpu_ms_per_signin": 1000 * mine / max(signins, 1),
                "postgres_all_cores": (every1 - every0) / CLOCK_TICK / seconds,
                "postgres_bench_backends": sorted(backends1)}


# -- the run ----------------------------------------------------------------------------------
def second_server(stack: ExitStack, environ: dict[str, str], workers: int,
                  options: list[str]) -> Gunicorn:
    """Server B: its own port and instance folder; the same config file and database."""
    instance = Path(tempfile.mkdtemp(prefix="ferry-scaleout-b-"))
    stack.callback(shutil.rmtree, instance, ignore_errors=True)
    return start_ferry(stack, {**environ, "FERRY_INSTANCE_PATH": str(instance)}, free_port(),
                       workers, instance, keep={"scaleout-gunicorn-b.log": instance / "gunicorn.log"},
                       options=options)


def check_shared(issuer: str, a: Gunicorn, b: Gunicorn, keys: KeySet, account: Account) -> dict:
    """B serves the same deployment as A: same JWKS, same issuer, and a token B issues verifies
    with A's keys. Raise SystemExit otherwise."""
    jwks_a = requests.get(a.base + "/.well-known/jwks.json", timeout=5).json()
    jwks_b = requests.get(b.base + "/.well-known/jwks.json", timeout=5).json()
    if jwks_a != jwks_b:
        raise SystemExit(f"[bench] FAILED: the servers publish different JWKS:\n{jwks_a}\n{jwks_b}")
    found = requests.get(b.base + "/.well-known/openid-configuration", timeout=5).json()["issuer"]
    if found != issuer:
        raise SystemExit(f"[bench] FAILED: server B names issuer {found!r}, not {issuer!r}")
    browser = RoutedBrowser(issuer, b.base, keys)
    try:
        browser.sign_in(account)  # signature checked with A's JWKS, iss with the issuer
    except SignInFailed as error:
        raise SystemExit(f"[bench] FAILED: a sign-in through server B with A's JWKS: "
                         f"{error.kind}: {error.detail[:300]}") from None
    finally:
        browser.close()
    progress("server B publishes A's JWKS and issuer; its ID token verifies with A's keys")
    return {"jwks_equal": True, "kids": [key["kid"] for key in jwks_a["keys"]],
            "issuer": issuer, "token_from_b_verified_with_a_jwks": True}


def window(servers: Servers, load: ScaleOutLoad, args: argparse.Namespace) -> dict:
    """One measured window (measure_ferry) with PostgreSQL's CPU and sign-ins per server."""
    def figures(good: list[Outcome]) -> dict:
        per = [sum(o.figures.get("server") == n for o in good) for n in range(len(servers.servers))]
        return {"latency_ms": percentiles([o.seconds for o in good]), "signins_per_server": per}

    measured = measure_ferry(servers, load, args.warmup, args.seconds, figures)
    pg = servers.postgres_figures(measured["seconds"], measured["signins"])
    backends = {str(pid) for pid in pg.pop("postgres_bench_backends")}
    measured["busiest_others"] = {name: cores for name, cores in measured["busiest_others"].items()
                                  if name.rsplit("[", 1)[-1].rstrip("]") not in backends}
    return {"servers": len(servers.servers), "client_threads": load.threads, **measured, **pg,
            "other_cpu_cores_besides_postgres":
                max(0.0, measured["other_cpu_cores"] - pg["postgres_bench_cores"])}


def run(args: argparse.Namespace, stack: ExitStack) -> dict:
    """Both windows; SystemExit (no figures) when a server does not start or a sign-in fails."""
    instance, port, environ = throwaway_ferry(stack, "ferry-scaleout-", "postgres")
    database = environ["FERRY_DATABASE_URL"].rsplit("/", 1)[-1]
    progress(f"database {database}; creating {args.users} returning users")
    accounts, params = create_accounts(environ, args.users)
    options = worker_options(args)
    a = start_ferry(stack, environ, port, args.workers, instance,
                    keep={"scaleout-gunicorn-a.log": instance / "gunicorn.log"}, options=options)
    issuer = a.base  # write_config's issuer is server A's URL; both servers serve it
    keys = KeySet.import_key_set(requests.get(issuer + "/.well-known/jwks.json", timeout=5).json())

    progress(f"window 1: one server, {args.threads} client threads")
    one = window(Servers([a], database), ScaleOutLoad(issuer, [a.base], keys, accounts,
                                                      args.threads), args)
    _fail_on(one, "one server")
    b = second_server(stack, environ, args.workers, options)
    shared = check_shared(issuer, a, b, keys, accounts[0])
    progress(f"window 2: two servers, {args.threads} client threads each")
    two = window(Servers([a, b], database), ScaleOutLoad(issuer, [a.base, b.base], keys, accounts,
                                                         args.threads), args)
    _fail_on(two, "two servers")
    cores = os.cpu_count() or 1
    return {
        "one_server": one, "two_servers": two,
        "scaleout_ratio": two["signins_per_s"] / one["signins_per_s"],
        "aim_ratio": 1.8,
        "cpu_per_signin_ratio": two["ferry_cpu_ms_per_signin"] / one["ferry_cpu_ms_per_signin"],
        "machine_limited": one["machine_busy_cores"] >= SATURATED * cores,
        "shared_deployment": shared,
        "setup": {"argon2": params, **run_setup(args, cores), "client_threads_per_server": args.threads,
                  "gunicorn_workers_per_server": args.workers},
    }


def _fail_on(figures: dict, name: str) -> None:
    if figures["failures"] or not figures["signins"]:
        for kind, failure in figures["failure_kinds"].items():
            print(f"[bench]   failure {kind} x{failure['count']}: {failure['first'][:300]!r}",
                  file=sys.stderr)
        raise SystemExit(f"[bench] FAILED: {figures['failures']} failed sign-ins and "
                         f"{figures['signins']} good ones in the {name} window; no figures")


def table(result: dict) -> str:
    """The two windows side by side, the ratio, and whether the machine was the limit."""
    one, two, setup = result["one_server"], result["two_servers"], result["setup"]
    cores = setup["cores"]

    def pair(key: str, form: str = "{:.2f}") -> str:
        return f"{form.format(one[key]):>14}  {form.format(two[key]):>14}"

    def lat(figures: dict) -> str:
        return "/".join(f"{figures['latency_ms'][q]:.0f}" for q in ("p50", "p95", "p99"))

    rows = [
        (f"PostgreSQL, -w {setup['gunicorn_workers_per_server']} {setup['worker_class']} per server, "
         f"{setup['client_threads_per_server']} client threads per server",
         f"{'one server':>14}  {'two servers':>14}"),
        ("sign-ins/s (full code flow)", pair("signins_per_s")),
        ("sign-ins per server", f"{'/'.join(map(str, one['signins_per_server'])):>14}  "
                                f"{'/'.join(map(str, two['signins_per_server'])):>14}"),
        ("ratio two / one (aim 1.8x)", f"{'':>14}  {result['scaleout_ratio']:>13.2f}x"),
        ("Ferry CPU ms per sign-in (all gunicorn)", pair("ferry_cpu_ms_per_signin", "{:.1f}")),
        ("Ferry CPU per sign-in, two / one", f"{'':>14}  {result['cpu_per_signin_ratio']:>14.2f}"),
        ("Ferry cores (all gunicorn)", pair("ferry_cpu_cores")),
        ("PostgreSQL CPU ms per sign-in (bench db)", pair("postgres_bench_cpu_ms_per_signin", "{:.1f}")),
        ("PostgreSQL cores: bench db backends", pair("postgres_bench_cores")),
        ("PostgreSQL cores: every postgres process", pair("postgres_all_cores")),
        ("client CPU ms per sign-in", pair("client_cpu_ms_per_signin", "{:.1f}")),
        ("latency p50/p95/p99 ms (whole sign-in)", f"{lat(one):>14}  {lat(two):>14}"),
        ("sign-ins / failures", f"{one['signins']:>9} / {one['failures']:<2}  "
                                f"{two['signins']:>9} / {two['failures']:<2}"),
        (f"machine busy cores (of {cores})", pair("machine_busy_cores")),
        ("machine steal %", pair("machine_steal_pct", "{:.1f}")),
        ("other processes' cores (besides bench db)", pair("other_cpu_cores_besides_postgres")),
    ]
    lines = report(rows, {**two, "other_cpu_cores": 0.0, "busiest_others": {}},
                   [(name, figures["other_cpu_cores_besides_postgres"], figures["busiest_others"])
                    for name, figures in (("one-server", one), ("two-server", two))])
    busy = one["machine_busy_cores"]
    if result["machine_limited"]:
        lines.append(f"  the machine was the limit: {busy:.2f} of {cores} cores were busy with one "
                     "server, so a second server on this machine had no idle core to use; the "
                     "ratio says nothing about two servers on two machines")
        if two["ferry_cpu_cores"] > 1.15 * one["ferry_cpu_cores"]:
            lines.append(f"  Ferry got {two['ferry_cpu_cores']:.2f} cores with two servers against "
                         f"{one['ferry_cpu_cores']:.2f} with one: the gain came from other "
                         "processes' share of the scheduler, not from idle cores")
        lines.append("  read the CPU per sign-in instead: near 1.00 two / one, a second server adds "
                     "no work per sign-in (locks, database), so on its own cores it adds its rate")
    else:
        lines.append(f"  one server left {cores - busy:.2f} of {cores} cores idle: the ratio is "
                     "what a second server could turn into sign-ins on this machine")
    if max(one["other_cpu_cores_besides_postgres"], two["other_cpu_cores_besides_postgres"]) > NOISY_CORES:
        lines.append("  (the windows ran one after the other; a shared machine's load may differ "
                     "between them)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run both windows, print the table, write the JSON; exit 1 (no figures) on any failure."""
    parser = arguments(__doc__, "returning users", "scaleout.json")
    parser.set_defaults(seconds=15, database="postgres")
    args = parser.parse_args(argv)
    if args.database != "postgres":
        parser.error("two servers share one PostgreSQL database: --database postgres only")
    if args.users < 2 * args.threads:
        parser.error("--users must be at least twice --threads (one user per busy thread)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up as on Ctrl-C
    with ExitStack() as stack:
        try:
            result = run(args, stack)
        except KeyboardInterrupt:
            progress("interrupted; stopping Ferry and cleaning up")
            return 130
        except RuntimeError as error:  # Gunicorn.wait_ready: a server did not start
            print(f"[bench] FAILED: a Ferry server did not start: {error}", file=sys.stderr)
            return 1
        except SystemExit as failed:
            if isinstance(failed.code, str):
                print(failed.code, file=sys.stderr)
                return 1
            raise
    print(table(result))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    progress(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
