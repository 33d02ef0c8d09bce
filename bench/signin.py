"""Returning-user password sign-ins through Ferry's full code flow, against raw argon2id.

One run on one machine measures two things with the same argon2id parameters (read from Ferry's
own password hasher, so the comparison cannot drift from the settings):

* **Ferry**: ``gunicorn -w 2 'app:create_app()'`` on a throw-away instance holding N returning
  users. Client threads each play a fresh browser per sign-in: ``/authorize`` (PKCE, state,
  nonce) -> ``GET /login`` -> ``POST /login`` -> the 303's code -> ``POST /token`` (Basic auth),
  and check the ID token (signature, iss, aud, nonce, sub).
* **argon2id alone**: ``PasswordHasher.verify`` in one process per core, half before and half
  after the Ferry window, so drift of the shared machine shows as two different rates.

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
)


def run(args: argparse.Namespace, stack: ExitStack) -> dict:
    instance, port, environ = throwaway_ferry(stack, "ferry-bench-")
    progress(f"instance {instance}; creating {args.users} returning users")
    accounts, params = create_accounts(environ, args.users)
    progress(f"argon2id {params}")

    cores = os.cpu_count() or 2
    half = args.seconds / 2
    verify = partial(argon2_verifier, params)
    progress(f"argon2 baseline, first half: {half:.1f} s in {cores} processes")
    before = baseline(verify, half, cores, stack)

    ferry = start_ferry(stack, environ, port, args.workers, instance,
                        keep={"signin-gunicorn.log": instance / "gunicorn.log"})
    keys = KeySet.import_key_set(requests.get(ferry.base + "/.well-known/jwks.json", timeout=5).json())
    load = CodeFlowLoad(ferry.base, keys, accounts, args.threads)
    stack.callback(load.stop.set)
    measured = measure_ferry(ferry, load, args.warmup, args.seconds, _latency)

    progress(f"argon2 baseline, second half: {half:.1f} s in {cores} processes")
    after = baseline(verify, half, cores, stack)
    argon2 = {**named(before_and_after(before, after), ARGON2_NAMES), "processes": cores}
    return {
        "ferry": measured,
        "argon2": argon2,
        "throughput_ratio": measured["signins_per_s"] / argon2["verifies_per_s"],
        "cpu_ratio": argon2["cpu_ms_per_verify"] / measured["ferry_cpu_ms_per_signin"]
        if measured["signins"] else None,
        "setup": {"argon2": params, **run_setup(args, cores)},
    }


def _latency(good: list[Outcome]) -> dict:
    """One whole sign-in (four requests) as the client saw it, queueing for a worker included."""
    return {"latency_ms": percentiles([o.seconds for o in good])}


def table(result: dict) -> str:
    ferry, argon2 = result["ferry"], result["argon2"]
    lat = ferry["latency_ms"]
    rows = [
        ("Ferry sign-ins/s (full code flow)", f"{ferry['signins_per_s']:.2f}"),
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
    return "\n".join(report(rows, ferry, windows("argon2", argon2)))


def main(argv: list[str] | None = None) -> int:
    return run_and_report(arguments(__doc__, "returning users", "signin.json").parse_args(argv),
                          run, table)


if __name__ == "__main__":
    sys.exit(main())
