"""Returning-user password sign-ins through Ferry's full code flow, against raw argon2id.

One run on one machine measures two things with the same argon2id parameters (read from Ferry's
own password hasher, so the comparison cannot drift from the settings):

* **Ferry**: ``gunicorn -w 2 'app:create_app()'`` on a throw-away instance holding N returning
  users. Client threads each play a fresh browser per sign-in: ``/authorize`` (PKCE, state,
  nonce; it answers with the sign-in page) -> ``POST /login`` -> the 303's code -> ``POST
  /token`` (Basic auth), and check the ID token (signature, iss, aud, nonce, sub).
* **django-oauth-toolkit** (the peer, ``peer/dot.py``): the same accounts, argon2id parameters,
  worker count and class, client threads and window, right after Ferry's (Ferry stopped
  meanwhile); ``--peer none`` leaves it out, and it runs only on SQLite.
* **argon2id alone**: ``PasswordHasher.verify`` in one process per core, half before and half
  after the servers' windows, so drift of the shared machine shows as two different rates.

The load client shares the cores with Ferry, so besides the throughput ratio the CPU ratio is
reported: argon2 CPU per verify / Ferry CPU per sign-in (master and every worker, from /proc).
See bench/README.md for how to read them.

    .venv/bin/python bench/signin.py --seconds 15
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import ExitStack
from functools import partial

import requests
from ferry_server import create_accounts, progress
from joserfc.jwk import KeySet
from load_client import CodeFlowLoad, Outcome
from measure import (
    ARGON2_NAMES,
    argon2_verifier,
    arguments,
    baseline,
    before_and_after,
    measure_ferry,
    named,
    percentiles,
    report,
    run_and_report,
    run_setup,
    start_ferry,
    throwaway_ferry,
    windows,
    worker_options,
)
from peer.dot import PeerSetupError, measure_dot


def run(args: argparse.Namespace, stack: ExitStack) -> dict:
    instance, port, environ = throwaway_ferry(stack, "ferry-bench-", args.database)
    progress(f"instance {instance}; creating {args.users} returning users")
    accounts, params = create_accounts(environ, args.users)
    progress(f"argon2id {params}")

    cores = os.cpu_count() or 2
    half = args.seconds / 2
    verify = partial(argon2_verifier, params)
    progress(f"argon2 baseline, first half: {half:.1f} s in {cores} processes")
    before = baseline(verify, half, cores, stack)

    ferry = start_ferry(stack, environ, port, args.workers, instance,
                        keep={f"{args.json.stem}-gunicorn.log": instance / "gunicorn.log"},
                        options=worker_options(args))
    keys = KeySet.import_key_set(requests.get(ferry.base + "/.well-known/jwks.json", timeout=5).json())
    load = CodeFlowLoad(ferry.base, keys, accounts, args.threads)
    stack.callback(load.stop.set)
    measured = measure_ferry(ferry, load, args.warmup, args.seconds, _latency)
    ferry.stop()  # idle, but out of the peer's way
    dot = None
    if args.peer == "dot":
        progress("django-oauth-toolkit, the same flow, accounts and workers")
        dot = measure_dot(args, stack, accounts, params)

    progress(f"argon2 baseline, second half: {half:.1f} s in {cores} processes")
    after = baseline(verify, half, cores, stack)
    argon2 = {**named(before_and_after(before, after), ARGON2_NAMES), "processes": cores}
    return {
        "ferry": measured,
        "argon2": argon2,
        "throughput_ratio": measured["signins_per_s"] / argon2["verifies_per_s"],
        "cpu_ratio": argon2["cpu_ms_per_verify"] / measured["ferry_cpu_ms_per_signin"]
        if measured["signins"] else None,
        "peer": dot,
        "ferry_vs_peer": measured["signins_per_s"] / dot["signins_per_s"]
        if dot and dot["signins_per_s"] else None,
        "setup": {"argon2": params, **run_setup(args, cores)},
    }


def _latency(good: list[Outcome]) -> dict:
    """One whole sign-in (three requests) as the client saw it, queueing for a worker included."""
    return {"latency_ms": percentiles([o.seconds for o in good])}


def table(result: dict) -> str:
    ferry, argon2 = result["ferry"], result["argon2"]
    lat = ferry["latency_ms"]
    rows = [
        ("Ferry sign-ins/s (full code flow, "
         f"{result['setup']['database']})", f"{ferry['signins_per_s']:.2f}"),
        ("argon2id verifies/s (raw, "
         f"{argon2['processes']} processes)", f"{argon2['verifies_per_s']:.2f}  "
         f"(before {argon2['verifies_per_s_before']:.2f}, after {argon2['verifies_per_s_after']:.2f})"),
        ("throughput ratio (Ferry / argon2)", f"{result['throughput_ratio']:.3f}"),
        ("Ferry CPU ms per sign-in (all workers)", f"{ferry['ferry_cpu_ms_per_signin']:.1f}"),
        ("argon2id CPU ms per verify", f"{argon2['cpu_ms_per_verify']:.1f}"),
        ("CPU ratio (argon2 / Ferry per sign-in)",
         f"{result['cpu_ratio']:.3f}" if result["cpu_ratio"] else "n/a"),
        ("client CPU ms per sign-in", f"{ferry['client_cpu_ms_per_signin']:.1f}"),
        ("latency p50 / p95 / p99 ms", " / ".join(
            "n/a" if lat[q] is None else f"{lat[q]:.0f}" for q in ("p50", "p95", "p99"))),
        ("sign-ins / failures", f"{ferry['signins']} / {ferry['failures']}"),
        ("machine busy cores / steal, Ferry window",
         f"{ferry['machine_busy_cores']:.2f} / {ferry['machine_steal_pct']:.1f}%"),
        ("other processes' cores: Ferry / argon2 windows",
         f"{ferry['other_cpu_cores']:.2f} / {argon2['other_cpu_cores_before']:.2f}, "
         f"{argon2['other_cpu_cores_after']:.2f}"),
    ]
    dot = result.get("peer")
    if dot:
        dlat = dot["latency_ms"]
        rows += [
            (f"DOT sign-ins/s ({dot['requests_per_signin']} requests each)",
             f"{dot['signins_per_s']:.2f}  ({dot['signins']} sign-ins, {dot['failures']} failures)"),
            ("Ferry / DOT sign-ins per second", f"{result['ferry_vs_peer']:.2f}"
             if result["ferry_vs_peer"] else "n/a"),
            ("DOT CPU ms per sign-in (all workers)", f"{dot['ferry_cpu_ms_per_signin']:.1f}"),
            ("DOT latency p50 / p95 / p99 ms", " / ".join(
                "n/a" if dlat[q] is None else f"{dlat[q]:.0f}" for q in ("p50", "p95", "p99"))),
        ]
    baselines = windows("argon2", argon2)
    if dot:
        baselines.append(("DOT", dot["other_cpu_cores"], dot["busiest_others"]))
    lines = report(rows, ferry, baselines)
    for kind, failure in (dot or {}).get("failure_kinds", {}).items():
        lines.append(f"  DOT failure {kind} x{failure['count']}: {failure['first'][:300]!r}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 1 on a failed sign-in (Ferry's or the peer's), 2 when the peer
    cannot be set up."""
    parser = arguments(__doc__, "returning users", "signin.json")
    parser.add_argument("--peer", default="dot", choices=("dot", "none"),
                        help="the peer run beside Ferry: django-oauth-toolkit (default; SQLite "
                        "only), or none")
    args = parser.parse_args(argv)
    if args.database != "sqlite" and args.peer == "dot":
        parser.error("the django-oauth-toolkit peer runs on SQLite only: add --peer none")
    return run_and_report(args, run, table, setup_errors=(PeerSetupError,))


if __name__ == "__main__":
    sys.exit(main())
