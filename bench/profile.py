"""Where a returning user's password sign-in spends Ferry's CPU: a flame graph of the workers.

The same throw-away Ferry and code-flow load as ``signin.py`` (gunicorn, returning users, the
whole flow), with py-spy sampling every worker for ``--seconds``. It writes
``bench/results/profile.svg`` (open it in a browser: the wider a frame, the more CPU under it)
and ``bench/results/profile.txt``, the functions with the most samples of their own and the
share of argon2. Sampling costs the workers little, but it is a profile, not a benchmark: read
the speed from ``signin.py``.

    .venv/bin/python bench/profile.py --seconds 20
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import requests
from ferry_server import create_accounts, progress
from joserfc.jwk import KeySet
from load_client import CodeFlowLoad
from measure import RESULTS, start_ferry, throwaway_ferry

PY_SPY = Path(sys.executable).with_name("py-spy")


def record(master: int, seconds: float, output: Path) -> Path:
    """Sample the gunicorn master's workers for ``seconds``; their collapsed stacks."""
    if not PY_SPY.exists():
        raise SystemExit(f"py-spy is not installed at {PY_SPY} (make setup installs it)")
    done = subprocess.run(  # noqa: S603 - our own tool and arguments
        [str(PY_SPY), "record", "--pid", str(master), "--subprocesses",
         "--duration", str(int(seconds)), "--rate", "200", "--format", "raw",
         "--output", str(output), "--nonblocking"],
        capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0 or not output.exists():
        raise SystemExit(f"py-spy failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    return output


def read(collapsed: Path) -> collections.Counter:
    """The samples by stack of a collapsed-stack file (the process frame left out, so every
    worker's stacks add up)."""
    stacks: collections.Counter = collections.Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            frames = stack.split(";")
            if frames and frames[0].startswith("process "):
                frames = frames[1:]
            stacks[";".join(frames)] += int(count)
    return stacks


def flame_graph(stacks: collections.Counter, svg: Path) -> None:
    """The SVG flame graph of ``stacks``."""
    svg.write_text(_svg([f"{stack} {count}" for stack, count in stacks.items()]))


def _svg(lines: list[str], width: int = 1200, row: int = 16) -> str:
    """A minimal icicle/flame graph: one rectangle per frame, width by samples, with titles."""
    from html import escape

    tree: dict = {}
    total = 0
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        total += samples
        node = tree
        for frame in stack.split(";"):
            entry = node.setdefault(frame, [0, {}])
            entry[0] += samples
            node = entry[1]
    shapes, depth_max = [], 0

    def draw(node: dict, x: float, depth: int) -> None:
        nonlocal depth_max
        depth_max = max(depth_max, depth)
        for frame, (samples, children) in sorted(node.items(), key=lambda kv: -kv[1][0]):
            w = width * samples / max(total, 1)
            if w >= 0.5:
                label = escape(frame)
                share = 100 * samples / max(total, 1)
                shapes.append((x, depth, w, label, share))
                draw(children, x, depth + 1)
            x += w

    draw(tree, 0.0, 0)
    height = (depth_max + 2) * row
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="monospace" font-size="11" role="img" aria-labelledby="t">',
             f'<title id="t">Ferry workers, sign-in load: {total} samples</title>']
    for x, depth, w, label, share in shapes:
        y = height - (depth + 1) * row
        hue = 20 + (hash(label) % 40)
        parts.append(f'<g><title>{label} ({share:.1f} %)</title><rect x="{x:.1f}" y="{y}" '
                     f'width="{w:.1f}" height="{row - 1}" fill="hsl({hue},85%,60%)"/>')
        if w > 60:
            parts.append(f'<text x="{x + 2:.1f}" y="{y + row - 4}">'
                         f'{label[: int(w / 7)]}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)


def summary(stacks: collections.Counter, top: int = 25) -> str:
    """The functions with the most samples of their own, and argon2's share."""
    total = sum(stacks.values()) or 1
    own: collections.Counter = collections.Counter()
    argon2 = 0
    for stack, count in stacks.items():
        frames = stack.split(";")
        own[frames[-1]] += count
        if any("argon2" in frame for frame in frames):
            argon2 += count
    lines = [f"{total} samples; argon2 under {100 * argon2 / total:.1f} % of them", ""]
    lines += [f"{100 * count / total:6.2f} %  {frame}" for frame, count in own.most_common(top)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the load, sample the workers, write the flame graph and the summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--users", type=int, default=40)
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        instance, port, environ = throwaway_ferry(stack, "ferry-profile-")
        accounts, _params = create_accounts(environ, args.users)
        ferry = start_ferry(stack, environ, port, args.workers, instance, keep={})
        keys = KeySet.import_key_set(
            requests.get(ferry.base + "/.well-known/jwks.json", timeout=5).json())
        load = CodeFlowLoad(ferry.base, keys, accounts, args.threads)
        stack.callback(load.stop.set)
        load.start()
        time.sleep(2)  # warm-up
        progress(f"sampling workers {ferry.worker_pids()} for {args.seconds:.0f} s")
        collapsed = record(ferry.process.pid, args.seconds, RESULTS / "profile.collapsed")
        load.stop.set()
        failures = [o for o in list(load.outcomes) if o.failure is not None]
        if failures:
            raise SystemExit(f"{len(failures)} sign-ins failed: {failures[0].failure}")
        done = sum(o.failure is None for o in list(load.outcomes))
    stacks = read(collapsed)
    flame_graph(stacks, RESULTS / "profile.svg")
    text = f"{done} sign-ins during the profile\n" + summary(stacks)
    (RESULTS / "profile.txt").write_text(text)
    print(text, end="")  # noqa: T201 - the command's report
    progress(f"flame graph: {RESULTS / 'profile.svg'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
