"""django-oauth-toolkit alone: password sign-ins through its code flow, as signin.py loads Ferry.

The accounts and the argon2id parameters come from a throw-away Ferry instance made as
signin.py makes it (``ferry_server.create_accounts``: Ferry's own hasher, so the parameters
cannot drift); Ferry itself is not started. The peer (``peer/dot.py``) is installed from the
registry in a pinned scratch venv, filled with the same users and served by gunicorn with the
same workers; client threads walk its code flow (five requests) and check each ID token. After
the window, argon2id alone runs on every core for a quarter of it, for the CPU ratio.

    .venv/bin/python bench/peer_dot.py --seconds 10
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import ExitStack
from functools import partial

from ferry_server import create_accounts, progress
from measure import (
    ARGON2_NAMES,
    argon2_verifier,
    arguments,
    baseline,
    named,
    report,
    run_and_report,
    run_setup,
    throwaway_ferry,
    windows,
)
from peer.dot import PeerSetupError, measure_dot


def run(args: argparse.Namespace, stack: ExitStack) -> dict:
    """Accounts from a throw-away Ferry, the DOT peer measured, then argon2id alone."""
    _instance, _port, environ = throwaway_ferry(stack, "ferry-bench-peer-", "sqlite")
    progress(f"creating {args.users} returning users (Ferry's accounts and argon2 parameters)")
    accounts, params = create_accounts(environ, args.users)
    progress(f"argon2id {params}")
    dot = measure_dot(args, stack, accounts, params)

    cores = os.cpu_count() or 2
    seconds = max(2.0, args.seconds / 4)
    progress(f"argon2 baseline: {seconds:.1f} s in {cores} processes")
    argon2 = {**named(baseline(partial(argon2_verifier, params), seconds, cores, stack),
                      ARGON2_NAMES), "processes": cores}
    return {
        "ferry": dot,  # run_and_report's exit status reads "ferry"; it is the peer here
        "argon2": argon2,
        "cpu_ratio": argon2["cpu_ms_per_verify"] / dot["ferry_cpu_ms_per_signin"]
        if dot["signins"] else None,
        "setup": {"argon2": params, **run_setup(args, cores),
                  "dot_client_secret_hasher": args.dot_client_secret_hasher},
    }


def table(result: dict) -> str:
    """The peer's figures, aligned, with failures and noise warnings."""
    dot, argon2 = result["ferry"], result["argon2"]
    lat, versions = dot["latency_ms"], dot["peer"]["versions"]
    rows = [
        ("DOT sign-ins/s (full code flow, sqlite)", f"{dot['signins_per_s']:.2f}"),
        ("DOT CPU ms per sign-in (all workers)", f"{dot['ferry_cpu_ms_per_signin']:.1f}"),
        ("argon2id CPU ms per verify", f"{argon2['cpu_ms_per_verify']:.1f}"),
        ("CPU ratio (argon2 / DOT per sign-in)",
         f"{result['cpu_ratio']:.3f}" if result["cpu_ratio"] else "n/a"),
        ("client CPU ms per sign-in", f"{dot['client_cpu_ms_per_signin']:.1f}"),
        ("latency p50 / p95 / p99 ms", " / ".join(
            "n/a" if lat[q] is None else f"{lat[q]:.0f}" for q in ("p50", "p95", "p99"))),
        ("requests per sign-in", str(dot["requests_per_signin"])),
        ("sign-ins / failures", f"{dot['signins']} / {dot['failures']}"),
        ("machine busy cores / steal, DOT window",
         f"{dot['machine_busy_cores']:.2f} / {dot['machine_steal_pct']:.1f}%"),
        ("peer", f"Django {versions.get('Django')}, django-oauth-toolkit "
         f"{versions.get('django-oauth-toolkit')}, gunicorn {versions.get('gunicorn')}, "
         f"Python {dot['peer']['python']}"),
    ]
    lines = report(rows, dot, windows("argon2", argon2))  # measure.report calls it "Ferry"
    return "\n".join(line.replace("Ferry window", "DOT window") for line in lines)


def main(argv: list[str] | None = None) -> int:
    """Run the peer alone; exit 1 on a failed sign-in, 2 when the peer cannot be set up."""
    parser = arguments(__doc__, "returning users", "peer-dot.json")
    parser.add_argument("--dot-client-secret-hasher", default="sha256", choices=("sha256", "default"),
                        help="how DOT stores the app's secret: sha256 as Ferry does (default), or "
                        "DOT's default (the first password hasher: a second argon2 per sign-in)")
    args = parser.parse_args(argv)
    return run_and_report(args, run, table, setup_errors=(PeerSetupError,))


if __name__ == "__main__":
    sys.exit(main())
