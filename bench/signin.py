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
import json
import math
import multiprocessing
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import requests
from argon2 import PasswordHasher
from ferry_server import (
    ROOT,
    Gunicorn,
    busiest_others,
    create_accounts,
    free_port,
    machine_busy,
    machine_ticks,
    process_ticks,
    progress,
    write_config,
)
from joserfc.jwk import KeySet
from load_client import Load

RESULTS = ROOT / "bench" / "results"
NOISY_CORES = 0.15  # other processes' CPU above which the run is flagged as disturbed


# -- raw argon2id ------------------------------------------------------------------------
def _verify_loop(params: dict, seconds: float, barrier, results) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us by PID
    hasher = PasswordHasher(**params)
    password = "correct horse battery 0000"  # noqa: S105
    phc = hasher.hash(password)
    hasher.verify(phc, password)
    barrier.wait()
    cpu, began, count = time.process_time(), time.monotonic(), 0
    while time.monotonic() - began < seconds:
        hasher.verify(phc, password)
        count += 1
    results.put((count, time.process_time() - cpu, time.monotonic() - began))


def argon2_baseline(params: dict, seconds: float, processes: int, stack: ExitStack) -> dict:
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(processes + 1), context.Queue()
    workers = [context.Process(target=_verify_loop, args=(params, seconds, barrier, results))
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
    mine = {os.getpid()} | {worker.pid for worker in workers}
    others = busiest_others(others0, process_ticks(), mine, wall)
    for worker in workers:
        worker.join()
    return {"verifies": counts, "verifies_per_s": rate, "cpu_ms_per_verify": 1000 * cpus / counts,
            "other_cpu_cores": max(0.0, busy - cpus) / wall, "busiest_others": others}


def _end_process(process) -> None:
    if process.is_alive():
        process.terminate()
    process.join(timeout=5)


# -- the run -------------------------------------------------------------------------------
def measure_ferry(ferry: Gunicorn, load: Load, warmup: float, seconds: float) -> dict:
    runners = load.start()
    progress(f"warm-up {warmup:.0f} s with {load.threads} client threads")
    time.sleep(warmup)
    cpu0, workers0 = ferry.cpu()
    client0, machine0, others0, t0 = _own_cpu(), machine_ticks(), process_ticks(), time.monotonic()
    interactive = sys.stderr.isatty()
    while (elapsed := time.monotonic() - t0) < seconds:
        time.sleep(min(1.0, seconds - elapsed) if interactive else min(5.0, seconds - elapsed))
        done = [o for o in list(load.outcomes) if o.finished >= t0]
        line = (f"measuring {time.monotonic() - t0:4.1f}/{seconds:.0f} s: "
                f"{sum(o.failure is None for o in done)} sign-ins, "
                f"{sum(o.failure is not None for o in done)} failures")
        print(f"\r[bench] {line}" if interactive else f"[bench] {line}", end="" if interactive
              else "\n", file=sys.stderr, flush=True)
    t1 = time.monotonic()
    cpu1, workers1 = ferry.cpu()
    client1, machine1, others1 = _own_cpu(), machine_ticks(), process_ticks()
    if interactive:
        print(file=sys.stderr)
    load.stop.set()
    for runner in runners:  # let in-flight sign-ins end before the argon2 baseline starts
        runner.join(timeout=60)

    window = [o for o in list(load.outcomes) if t0 <= o.finished < t1]
    good = sorted(o.seconds for o in window if o.failure is None)
    failures: dict[str, list[str]] = {}
    for outcome in window:
        if outcome.failure:
            failures.setdefault(outcome.failure.kind, []).append(outcome.failure.detail)
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
        "latency_ms": {"p50": _percentile_ms(good, 50), "p95": _percentile_ms(good, 95),
                       "p99": _percentile_ms(good, 99),
                       "mean": 1000 * statistics.fmean(good) if good else None},
        # Whatever else ran meanwhile (another test suite...) makes both ratios noisy.
        "other_cpu_cores": max(0.0, busy - (cpu1 - cpu0) - (client1 - client0)) / wall,
        "machine_busy_cores": busy / wall,
        "machine_steal_pct": 100 * steal,
        "busiest_others": busiest_others(
            others0, others1, {os.getpid(), ferry.process.pid} | workers0 | workers1, wall),
        "workers_replaced": sorted(workers0 ^ workers1),
    }


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _percentile_ms(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted seconds, in milliseconds."""
    if not ordered:
        return None
    return 1000 * ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def run(args: argparse.Namespace, stack: ExitStack) -> dict:
    instance = Path(tempfile.mkdtemp(prefix="ferry-bench-"))
    stack.callback(shutil.rmtree, instance, ignore_errors=True)
    port = free_port()
    environ = {"FERRY_CONFIG": str(write_config(instance, port)),
               "FERRY_INSTANCE_PATH": str(instance)}
    progress(f"instance {instance}; creating {args.users} returning users")
    accounts, params = create_accounts(environ, args.users)
    progress(f"argon2id {params}")

    cores = os.cpu_count() or 2
    half = args.seconds / 2
    progress(f"argon2 baseline, first half: {half:.1f} s in {cores} processes")
    before = argon2_baseline(params, half, cores, stack)

    progress(f"starting Ferry: gunicorn -w {args.workers} on 127.0.0.1:{port}")
    ferry = Gunicorn(environ, port, args.workers, instance / "gunicorn.log")
    stack.callback(_keep_log, ferry)
    stack.callback(ferry.stop)
    with requests.Session() as probe:
        ferry.wait_ready(probe)
        keys = KeySet.import_key_set(probe.get(ferry.base + "/.well-known/jwks.json", timeout=5).json())
    load = Load(ferry.base, keys, accounts, args.threads)
    stack.callback(load.stop.set)
    measured = measure_ferry(ferry, load, args.warmup, args.seconds)

    progress(f"argon2 baseline, second half: {half:.1f} s in {cores} processes")
    after = argon2_baseline(params, half, cores, stack)
    verifies = before["verifies"] + after["verifies"]
    argon2 = {
        "verifies": verifies,
        "verifies_per_s": (before["verifies_per_s"] + after["verifies_per_s"]) / 2,
        "verifies_per_s_before": before["verifies_per_s"],
        "verifies_per_s_after": after["verifies_per_s"],
        "other_cpu_cores_before": before["other_cpu_cores"],
        "other_cpu_cores_after": after["other_cpu_cores"],
        "busiest_others_before": before["busiest_others"],
        "busiest_others_after": after["busiest_others"],
        "cpu_ms_per_verify": (before["cpu_ms_per_verify"] * before["verifies"]
                              + after["cpu_ms_per_verify"] * after["verifies"]) / verifies,
        "processes": cores,
    }
    return {
        "ferry": measured,
        "argon2": argon2,
        "throughput_ratio": measured["signins_per_s"] / argon2["verifies_per_s"],
        "cpu_ratio": argon2["cpu_ms_per_verify"] / measured["ferry_cpu_ms_per_signin"]
        if measured["signins"] else None,
        "setup": {"argon2": params, "gunicorn_workers": args.workers,
                  "client_threads": args.threads, "users": args.users, "warmup_s": args.warmup,
                  "cores": cores, "python": platform.python_version(), "database": "sqlite",
                  "commit": _commit(), "when": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
    }


def _keep_log(ferry: Gunicorn) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ferry.log, RESULTS / "signin-gunicorn.log")


def _commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,  # noqa: S607
                              capture_output=True, text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


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
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    for kind, failure in ferry["failure_kinds"].items():
        lines.append(f"  failure {kind} x{failure['count']}: {failure['first'][:300]!r}")
    noise = max(ferry["other_cpu_cores"], argon2["other_cpu_cores_before"],
                argon2["other_cpu_cores_after"])
    if noise > NOISY_CORES:
        lines.append(f"  warning: other processes used up to {noise:.2f} cores meanwhile; "
                     "the ratios are not trustworthy, run again on a quiet machine")
        for window, busiest in (("Ferry", ferry["busiest_others"]),
                                ("argon2 before", argon2["busiest_others_before"]),
                                ("argon2 after", argon2["busiest_others_after"])):
            if busiest:
                lines.append(f"  busiest others, {window} window (cores): {busiest}")
    if ferry["workers_replaced"]:
        lines.append(f"  workers replaced during the window: {ferry['workers_replaced']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20, help="measured window (default 20)")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up seconds (default 3)")
    parser.add_argument("--threads", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--users", type=int, default=40, help="returning users (default 40)")
    parser.add_argument("--json", type=Path, default=RESULTS / "signin.json")
    args = parser.parse_args(argv)

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
