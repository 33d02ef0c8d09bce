"""The table of the ``hashes`` connector's formats in docs/connectors.md, generated from the code.

One row per entry of :data:`connectors.hashes.schemes.FORMATS`, in the table's order: the name
to list in ``schemes``, how Ferry recognises it (a prefix of its own, or a shape), whether it is
enabled by default (a prefix) or only when listed, and the software that writes it. The table
sits between ``<!-- hash-formats:begin -->`` and ``<!-- hash-formats:end -->``;
``python -m connectors.hashes.reference --write`` rewrites it, ``--check`` (the default) exits 1
when it is out of date, and tests/connectors/hashes/test_hash_reference.py fails the same way. So the
docs never claim a format the code lacks, and nothing states a count that can drift.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from connectors.hashes.formats import HashFormat
from connectors.hashes.schemes import FORMATS

ROOT = Path(__file__).resolve().parents[2]
DOCS_FILE = ROOT / "docs" / "connectors.md"
BEGIN = "<!-- hash-formats:begin -->"
END = "<!-- hash-formats:end -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_table(formats: Iterable[HashFormat] | None = None) -> str:
    """The Markdown table of ``formats`` (by default every format Ferry knows)."""
    lines = ["| `schemes` name | recognised by | enabled | written by |",
             "| --- | --- | --- | --- |"]
    for found in FORMATS.values() if formats is None else formats:
        enabled = "by default" if found.auto else "only when listed"
        lines.append(f"| `{found.name}` | {_cell(found.recognised_by)} | {enabled} | "
                     f"{_cell(found.written_by)} |")
    return "\n".join(lines) + "\n"


def rewrite(text: str, formats: Iterable[HashFormat] | None = None) -> str:
    """``text`` with the part between the markers replaced by the table drawn now."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{DOCS_FILE.name}: markers {BEGIN} ... {END} not found")
    return text[: start + len(BEGIN)] + "\n" + render_table(formats) + text[end:]


def is_stale(path: Path | None = None) -> bool:
    """Whether ``path`` (docs/connectors.md) holds another table than the code draws now."""
    text = (path or DOCS_FILE).read_text(encoding="utf-8")
    return rewrite(text) != text


def main(argv: list[str] | None = None) -> int:
    """``python -m connectors.hashes.reference [--write | --check]``: rewrite or check the table."""
    parser = argparse.ArgumentParser(prog="python -m connectors.hashes.reference",
                                     description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the table in docs/connectors.md")
    mode.add_argument("--check", action="store_true",
                      help="exit 1 when the table is out of date (the default)")
    arguments = parser.parse_args(argv)
    text = DOCS_FILE.read_text(encoding="utf-8")
    current = rewrite(text)
    if arguments.write:
        if current != text:
            DOCS_FILE.write_text(current, encoding="utf-8")
            sys.stderr.write(f"rewrote the hash formats table in {DOCS_FILE.name}\n")
        return 0
    if current != text:
        sys.stderr.write(f"{DOCS_FILE.name}: the hash formats table is out of date; run "
                         "`python -m connectors.hashes.reference --write`\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
