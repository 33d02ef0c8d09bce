"""The figures of the last ``make bench``, as one table, one JSON and one SVG chart.

Reads what each benchmark wrote to ``bench/results/`` (``signin.json``, ``signin-postgres.json``,
``passkey.json``, ``first-signin.json``, ``endpoints.json``, ``scaleout.json``), sets each figure
beside its target in issue 16, and writes ``bench/results/summary.json`` and
``bench/results/summary.svg`` (Ferry against django-oauth-toolkit against the argon2id floor).
A benchmark whose file is missing or that counted a failure makes the report fail: a number
from a run that did not finish is not reported.

    .venv/bin/python bench/report.py
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from ferry_server import ROOT
from measure import RESULTS

sys.path.insert(0, str(ROOT))
from lifecycle.charts import Row, Segment, bar_chart  # noqa: E402 (Ferry's own SVG bars)

#: The benchmarks ``make bench`` runs, by the file each writes.
FILES = {"signin": "signin.json", "signin_postgres": "signin-postgres.json",
         "passkey": "passkey.json", "first_signin": "first-signin.json",
         "endpoints": "endpoints.json", "scaleout": "scaleout.json"}
#: Colours of the standalone chart (the portal's CSS colours the same classes on its pages).
STYLE = """<style>
.chart-text{font:13px system-ui,sans-serif;fill:#1f2933}.chart-value{fill:#52606d}
.chart-bar--ferry{fill:#1f6feb}.chart-bar--peer{fill:#d97706}.chart-bar--floor{fill:#9aa5b1}
</style>"""


@dataclass(frozen=True)
class Figure:
    """One line of the table: what, the value measured, the target, whether it is met."""

    name: str
    value: str
    target: str
    met: bool | None  # None: reported, no target


class MissingResult(Exception):
    """A benchmark's result is missing or counted failures."""


def load(results: Path) -> dict[str, dict]:
    """Every benchmark's result; raises :class:`MissingResult` for a missing or failed one."""
    loaded, problems = {}, []
    for key, name in FILES.items():
        path = results / name
        if not path.exists():
            problems.append(f"{name}: missing (did its benchmark run?)")
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        failures = sum(part.get("failures", 0) for part in data.values() if isinstance(part, dict))
        if failures:
            problems.append(f"{name}: {failures} failures; its figures are not reported")
        loaded[key] = data
    if problems:
        raise MissingResult("; ".join(problems))
    return loaded


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def figures(r: dict[str, dict]) -> list[Figure]:
    """The table: each of issue 16's targets with the figure measured for it."""
    signin, pg, passkey = r["signin"], r["signin_postgres"], r["passkey"]
    first, endpoints, scale = r["first_signin"], r["endpoints"], r["scaleout"]
    peer_ratio = signin.get("ferry_vs_peer")
    worst = max(endpoints["p99_ms"].values())
    rows = [
        Figure("CPU ratio, SQLite (argon2 CPU / Ferry CPU per sign-in)",
               f"{signin['cpu_ratio']:.2f}", ">= 0.8", signin["cpu_ratio"] >= 0.8),
        Figure("CPU ratio, PostgreSQL", f"{pg['cpu_ratio']:.2f}", ">= 0.8", pg["cpu_ratio"] >= 0.8),
        Figure("Ferry CPU ms per password sign-in (SQLite / PostgreSQL)",
               f"{signin['ferry']['ferry_cpu_ms_per_signin']:.1f} / "
               f"{pg['ferry']['ferry_cpu_ms_per_signin']:.1f}", "", None),
        Figure("argon2id CPU ms per verify", f"{signin['argon2']['cpu_ms_per_verify']:.1f}", "", None),
        Figure("Ferry / django-oauth-toolkit sign-ins per second",
               "n/a" if peer_ratio is None else f"{peer_ratio:.2f}x", ">= 1.6x",
               None if peer_ratio is None else peer_ratio >= 1.6),
        Figure("password sign-ins/s: Ferry / DOT / argon2 verifies",
               f"{signin['ferry']['signins_per_s']:.1f} / "
               f"{(signin.get('peer') or {}).get('signins_per_s', 0):.1f} / "
               f"{signin['argon2']['verifies_per_s']:.1f}", "", None),
        Figure("passkey sign-ins/s (CPU ms each)",
               f"{passkey['ferry']['signins_per_s']:.1f} "
               f"({passkey['ferry']['ferry_cpu_ms_per_signin']:.1f})", ">= 288 (2x 144)",
               passkey["ferry"]["signins_per_s"] >= 288),
        Figure("first sign-in overhead over the legacy IdP, p50 / p99",
               f"{_ms(first['overhead_ms']['p50'])} / {_ms(first['overhead_ms']['p99'])}",
               f"<= {first['aim_ms']:.0f} ms (one hash + 20)",
               first["overhead_ms"]["p99"] <= first["aim_ms"]),
        Figure("non-hash endpoints p99 at 70% load, worst", f"{worst:.0f} ms", "< 50 ms", worst < 50),
        Figure("two servers / one, PostgreSQL (machine busy cores, one server)",
               f"{scale['scaleout_ratio']:.2f}x ({scale['one_server']['machine_busy_cores']:.2f} "
               f"of {scale['setup']['cores']})", ">= 1.8x", scale["scaleout_ratio"] >= 1.8),
        Figure("Ferry CPU per sign-in, two servers / one", f"{scale['cpu_per_signin_ratio']:.2f}",
               "", None),
    ]
    return rows


def table(rows: list[Figure], setup: dict) -> str:
    """The rows aligned, with the machine they came from."""
    width = max(len(f.name) for f in rows)
    lines = [f"Ferry benchmarks, {setup.get('when', '?')}, commit {setup.get('commit', '?')}, "
             f"{setup.get('cores', '?')} cores, Python {setup.get('python', '?')}"]
    for f in rows:
        mark = {True: "met", False: "NOT met", None: ""}[f.met]
        target = f"target {f.target}" if f.target else ""
        lines.append(f"{f.name:<{width}}  {f.value:<22} {target:<34} {mark}".rstrip())
    return "\n".join(lines)


def chart(r: dict[str, dict]) -> str:
    """Ferry, django-oauth-toolkit and the argon2id floor: sign-ins per second and CPU per
    sign-in, as one standalone SVG."""
    signin = r["signin"]
    ferry, argon2, peer = signin["ferry"], signin["argon2"], signin.get("peer") or {}
    rate = [Row("argon2id verifies alone (the floor)",
                (Segment(argon2["verifies_per_s"], "floor"),), f"{argon2['verifies_per_s']:.1f}/s"),
            Row("Ferry", (Segment(ferry["signins_per_s"], "ferry"),), f"{ferry['signins_per_s']:.1f}/s")]
    cpu = [Row("argon2id verify (the floor)", (Segment(argon2["cpu_ms_per_verify"], "floor"),),
               f"{argon2['cpu_ms_per_verify']:.1f} ms"),
           Row("Ferry", (Segment(ferry["ferry_cpu_ms_per_signin"], "ferry"),),
               f"{ferry['ferry_cpu_ms_per_signin']:.1f} ms")]
    if peer:
        rate.append(Row("django-oauth-toolkit", (Segment(peer["signins_per_s"], "peer"),),
                        f"{peer['signins_per_s']:.1f}/s"))
        cpu.append(Row("django-oauth-toolkit", (Segment(peer["ferry_cpu_ms_per_signin"], "peer"),),
                       f"{peer['ferry_cpu_ms_per_signin']:.1f} ms"))
    parts = [
        ("Password sign-ins per second", bar_chart(
            "rate", "Password sign-ins per second",
            "Full code flow, returning users, same machine and run. "
            + "; ".join(f"{row.label}: {row.note}" for row in rate), rate)),
        ("Server CPU ms per password sign-in", bar_chart(
            "cpu", "Server CPU per password sign-in",
            "Lower is better. " + "; ".join(f"{row.label}: {row.note}" for row in cpu), cpu)),
    ]
    y, body = 0.0, []
    for title, part in parts:
        svg = str(part)
        height = float(svg.split(' height="', 1)[1].split('"', 1)[0])
        body.append(f'<text class="chart-text" x="0" y="{y + 16:.0f}" font-weight="bold">'
                    f'{title}</text>')
        body.append(svg.replace("<svg ", f'<svg y="{y + 24:.0f}" ', 1))
        y += height + 32
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 360 {y:.0f}" '
            f'width="720" height="{2 * y:.0f}" role="img" aria-label="Ferry benchmark summary">'
            f'{STYLE}<rect width="100%" height="100%" fill="#fff"/>' + "".join(body) + "</svg>\n")


def main(argv: list[str] | None = None) -> int:
    """Print the table and write the summary; exit 1 when a benchmark's result is missing."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    try:
        results = load(args.results)
    except MissingResult as error:
        print(f"[bench] report FAILED: {error}", file=sys.stderr)
        return 1
    rows = figures(results)
    print(table(rows, results["signin"]["setup"]), flush=True)
    summary = {"figures": [f.__dict__ for f in rows], "setup": results["signin"]["setup"]}
    (args.results / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (args.results / "summary.svg").write_text(chart(results), encoding="utf-8")
    print(f"[bench] summary written to {args.results}/summary.json and summary.svg", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
