"""How both benchmarks measure: a primitive on every core, Ferry in a window, and the machine.

signin.py sets Ferry's password sign-ins against argon2id, passkey.py its passkey sign-ins against
ECDSA P-256; the measuring is the same and lives here:

* :func:`baseline`: a primitive (a function made in each process) repeated in one process per core
  for N seconds, with its CPU and whatever else the machine did meanwhile; a benchmark runs it
  before and after Ferry's window (:func:`before_and_after`), so drift of a shared machine shows
  as two different rates.
* :func:`measure_ferry`: client threads (``load_client.Load``) against gunicorn after a warm-up;
  only sign-ins that end inside the window count. Ferry's CPU is the master and every worker
  (/proc), the client's our own rusage, the machine's /proc/stat.
* :func:`report`: the table, failures, noise warnings; :func:`run_and_report`: clean-up, JSON.
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
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path

import requests
from argon2 import PasswordHasher
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
from load_client import Load, Outcome

RESULTS = ROOT / "bench" / "results"
NOISY_CORES = 0.15  # other processes' CPU above which the run is flagged as disturbed
#: What signin.json and passkey.json call the generic figures of an argon2id baseline.
ARGON2_NAMES = {"operations": "verifies", "per_s": "verifies_per_s", "cpu_ms": "cpu_ms_per_verify"}


# -- a primitive on every core -----------------------------------------------------------------
def _repeat(make: Callable[[], Callable[[], object]], seconds: float, batch: int, barrier,
            results) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us by PID
    once = make()
    once()
    barrier.wait()
    cpu, began, count = time.process_time(), time.monotonic(), 0
    while time.monotonic() - began < seconds:
        for _ in range(batch):
            once()
        count += batch
    results.put((count, time.process_time() - cpu, time.monotonic() - began))


def baseline(make: Callable[[], Callable[[], object]], seconds: float, processes: int,
             stack: ExitStack, batch: int = 1) -> dict:
    """How often ``make()``'s operation runs per second in ``processes`` processes at once.

    ``make`` runs in each spawned process, so it must be a module-level function (or a
    ``functools.partial`` of one); it sets the operation up and returns it, e.g.::

        def ecdsa_verify():
            key = ec.generate_private_key(ec.SECP256R1())
            signature = key.sign(b"message", ES256)
            return lambda: key.public_key().verify(signature, b"message", ES256)

    ``batch`` operations run between two reads of the clock (for operations of microseconds).
    Returns ``operations``, ``per_s`` (all processes), ``cpu_ms`` per operation, and what the
    rest of the machine did meanwhile: ``other_cpu_cores`` and ``busiest_others``.
    """
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(processes + 1), context.Queue()
    workers = [context.Process(target=_repeat, args=(make, seconds, batch, barrier, results))
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


def _end_process(process) -> None:
    if process.is_alive():
        process.terminate()
    process.join(timeout=5)


def before_and_after(before: dict, after: dict) -> dict:
    """Two :func:`baseline` halves as one: the mean rate, both rates, CPU per operation overall."""
    operations = before["operations"] + after["operations"]
    return {
        "operations": operations, "per_s": (before["per_s"] + after["per_s"]) / 2,
        "per_s_before": before["per_s"], "per_s_after": after["per_s"],
        "cpu_ms": (before["cpu_ms"] * before["operations"]
                   + after["cpu_ms"] * after["operations"]) / operations,
        "other_cpu_cores_before": before["other_cpu_cores"],
        "other_cpu_cores_after": after["other_cpu_cores"],
        "busiest_others_before": before["busiest_others"],
        "busiest_others_after": after["busiest_others"],
    }


def named(figures: dict, names: dict[str, str]) -> dict:
    """``figures`` with a benchmark's names for them: ``names`` maps a generic name ("per_s") to
    the benchmark's ("verifies_per_s"); its ``_before`` and ``_after`` forms follow."""
    renamed = {}
    for key, value in figures.items():
        stem = key.removesuffix("_before").removesuffix("_after")
        renamed[names.get(stem, stem) + key[len(stem):]] = value
    return renamed


def argon2_verifier(params: dict) -> Callable[[], object]:
    """For :func:`baseline`: ``PasswordHasher.verify`` with Ferry's parameters, on a fixed hash."""
    hasher = PasswordHasher(**params)
    password = "correct horse battery 0000"  # noqa: S105
    phc = hasher.hash(password)
    return lambda: hasher.verify(phc, password)


# -- Ferry -------------------------------------------------------------------------------------
#: Where ``--database postgres`` makes its throw-away database (a server with trust auth, as
#: the tests use); override with FERRY_BENCH_POSTGRES (an admin URL of that server).
POSTGRES_ADMIN = os.environ.get("FERRY_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def throwaway_ferry(stack: ExitStack, prefix: str, database: str = "sqlite",
                    **environ: str) -> tuple[Path, int, dict[str, str]]:
    """A temporary instance folder (removed at the end), a free port, and Ferry's environment;
    ``database`` ``postgres``: a fresh PostgreSQL database, dropped at the end (SQLite in the
    instance folder otherwise)."""
    instance = Path(tempfile.mkdtemp(prefix=prefix))
    stack.callback(shutil.rmtree, instance, ignore_errors=True)
    port = free_port()
    if database == "postgres":
        environ = {**environ, "FERRY_DATABASE_URL": _throwaway_postgres(stack, instance.name)}
    return instance, port, {"FERRY_CONFIG": str(write_config(instance, port)),
                            "FERRY_INSTANCE_PATH": str(instance), **environ}


def _throwaway_postgres(stack: ExitStack, name: str) -> str:
    import psycopg

    database = "bench_" + "".join(c for c in name.lower() if c.isalnum())[-40:]
    try:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{database}"')
    except psycopg.Error as error:
        raise SystemExit(f"--database postgres: no PostgreSQL at {POSTGRES_ADMIN} "
                         f"({error})") from None

    def drop() -> None:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    stack.callback(drop)
    return POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{database}"


def worker_options(args: argparse.Namespace) -> list[str]:
    """gunicorn's options for the worker class and threads the run asked for."""
    if getattr(args, "worker_class", "sync") == "gthread":
        return ["-k", "gthread", "--threads", str(args.worker_threads)]
    return []


def start_ferry(stack: ExitStack, environ: dict[str, str], port: int, workers: int, instance: Path,
                keep: dict[str, Path], options: Sequence[str] = ()) -> Gunicorn:
    """Gunicorn, once every worker serves; stopped at the end, then its logs are kept.

    ``keep`` maps a file name in ``RESULTS`` to the log copied there (if it was written);
    gunicorn's own is ``instance / "gunicorn.log"``. ``options`` go to gunicorn.
    """
    progress(f"starting Ferry: gunicorn -w {workers} on 127.0.0.1:{port}")
    ferry = Gunicorn(environ, port, workers, instance / "gunicorn.log", options=options)
    stack.callback(_keep_logs, keep)
    stack.callback(ferry.stop)
    with requests.Session() as probe:
        ferry.wait_ready(probe)
    return ferry


def _keep_logs(keep: dict[str, Path]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name, log in keep.items():
        if log.exists():
            shutil.copyfile(log, RESULTS / name)


def measure_ferry(ferry: Gunicorn, load: Load, warmup: float, seconds: float,
                  figures: Callable[[list[Outcome]], dict]) -> dict:
    """Sign-ins per second, CPU per sign-in and failures of ``load`` in a window of ``seconds``.

    ``figures`` adds the benchmark's own figures (latencies...) of the sign-ins that succeeded
    inside the window; they follow the CPU figures in the result.
    """
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
    for runner in runners:  # let in-flight sign-ins end before the next baseline starts
        runner.join(timeout=60)

    window = [o for o in list(load.outcomes) if t0 <= o.finished < t1]
    good = [o for o in window if o.failure is None]
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
        **figures(good),
        # Whatever else ran meanwhile (another test suite...) makes the ratios noisy.
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


def percentiles(seconds: list[float]) -> dict[str, float | None]:
    """Nearest-rank p50/p95/p99 and the mean of durations in seconds, in milliseconds."""
    ordered = sorted(seconds)
    if not ordered:
        return {"p50": None, "p95": None, "p99": None, "mean": None}
    rank = {q: 1000 * ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] for q in (50, 95, 99)}
    return {"p50": rank[50], "p95": rank[95], "p99": rank[99], "mean": 1000 * statistics.fmean(ordered)}


def run_setup(args: argparse.Namespace, cores: int) -> dict:
    """The ``setup`` figures both benchmarks record: options, machine, software, commit, date."""
    return {"gunicorn_workers": args.workers, "worker_class": args.worker_class,
            "worker_threads": args.worker_threads if args.worker_class == "gthread" else 1,
            "client_threads": args.threads, "users": args.users,
            "warmup_s": args.warmup, "cores": cores, "python": platform.python_version(),
            "database": getattr(args, "database", "sqlite"), "commit": _commit(),
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def _commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,  # noqa: S607
                              capture_output=True, text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


# -- the report --------------------------------------------------------------------------------
def windows(name: str, figures: dict) -> list[tuple[str, float, dict]]:
    """The baseline windows of ``figures`` (one, or a before and an after) for :func:`report`."""
    if "other_cpu_cores" in figures:
        return [(name, figures["other_cpu_cores"], figures["busiest_others"])]
    return [(f"{name} {half}", figures[f"other_cpu_cores_{half}"], figures[f"busiest_others_{half}"])
            for half in ("before", "after")]


def report(rows: list[tuple[str, str]], ferry: dict,
           baselines: list[tuple[str, float, dict]]) -> list[str]:
    """``rows`` aligned, then Ferry's failures, and a warning if the machine was not quiet.

    ``baselines`` are the other windows (name, other processes' cores, busiest others), as
    :func:`windows` gives them.
    """
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    for kind, failure in ferry["failure_kinds"].items():
        lines.append(f"  failure {kind} x{failure['count']}: {failure['first'][:300]!r}")
    measured = [("Ferry", ferry["other_cpu_cores"], ferry["busiest_others"]), *baselines]
    noise = max(cores for _, cores, _ in measured)
    if noise > NOISY_CORES:
        lines.append(f"  warning: other processes used up to {noise:.2f} cores meanwhile; "
                     "the ratios are not trustworthy, run again on a quiet machine")
        for window, _, busiest in measured:
            if busiest:
                lines.append(f"  busiest others, {window} window (cores): {busiest}")
    if ferry["workers_replaced"]:
        lines.append(f"  workers replaced during the window: {ferry['workers_replaced']}")
    return lines


def arguments(doc: str, users: str, json_name: str) -> argparse.ArgumentParser:
    """The options both benchmarks take; ``users`` describes --users, ``json_name`` is the default
    file in ``RESULTS``."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20, help="measured window (default 20)")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up seconds (default 3)")
    parser.add_argument("--threads", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--users", type=int, default=40, help=f"{users} (default 40)")
    parser.add_argument("--database", default="sqlite", choices=("sqlite", "postgres"),
                        help="Ferry's database (default sqlite; postgres: a throw-away database "
                        "on FERRY_BENCH_POSTGRES, default 127.0.0.1:5432)")
    parser.add_argument("--worker-class", default="sync", choices=("sync", "gthread"),
                        help="gunicorn worker class (default sync; gthread keeps connections "
                        "alive but measured no cheaper per sign-in here)")
    parser.add_argument("--worker-threads", type=int, default=4,
                        help="threads of each gthread worker (default 4)")
    parser.add_argument("--json", type=Path, default=RESULTS / json_name)
    return parser


def run_and_report(args: argparse.Namespace, run: Callable[[argparse.Namespace, ExitStack], dict],
         table: Callable[[dict], str],
         setup_errors: tuple[type[Exception], ...] = ()) -> int:
    """Run a benchmark, cleaning up on Ctrl-C or SIGTERM; print its table, write its JSON.

    The exit status is 1 if any sign-in failed, 2 if one of ``setup_errors`` (a peer that
    could not be set up) stopped it, 130 if interrupted.
    """
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up as on Ctrl-C
    with ExitStack() as stack:
        try:
            result = run(args, stack)
        except KeyboardInterrupt:
            progress("interrupted; stopping Ferry and cleaning up")
            return 130
        except setup_errors as error:
            print(f"[bench] FAILED: {error}", file=sys.stderr)
            return 2
    print(table(result))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    progress(f"figures written to {args.json}")
    peer = result.get("peer")
    return 1 if result["ferry"]["failures"] or (peer and peer["failures"]) else 0

