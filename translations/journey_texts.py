"""A Babel extractor for the texts of the journeys Ferry ships (``journeys/defaults.toml``).

Those titles, messages and buttons are configuration, not code, so no ``_()`` marks them; the
``notice`` and ``reject`` steps pass every configured text through gettext when they show it
(:func:`journeys.steps.messages.configured`). A text that is one of the shipped defaults is
therefore shown in the page's language; a deployment's own text is shown as it wrote it
(a deployment that serves several languages writes its own catalogue or keeps the defaults).

Named in ``babel.cfg``'s ``[extractors]`` section; run through ``python -m
babel.messages.frontend`` from the repository root (``make translations``) so this folder
imports as ``translations``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from typing import IO, Any

#: The keys of a journey, and of its steps, whose values a user reads.
JOURNEY_KEYS = ("title",)
STEP_KEYS = ("title", "message", "button")


def texts(tables: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``(where, text)`` for every user-facing text of the journey tables, in file order."""
    for name, journey in tables.items():
        if not isinstance(journey, dict):
            continue
        for key in JOURNEY_KEYS:
            if isinstance(journey.get(key), str):
                yield f"journey {name}: {key}", journey[key]
        for step_name, step in (journey.get("steps") or {}).items():
            for key in STEP_KEYS:
                if isinstance(step, dict) and isinstance(step.get(key), str):
                    yield f"journey {name}, step {step_name}: {key}", step[key]


def extract(fileobj: IO[bytes], keywords: Any, comment_tags: Any,
            options: dict[str, Any]) -> Iterator[tuple[int, str, str, list[str]]]:
    """Babel's extractor interface: ``(line, funcname, message, comments)`` per text."""
    source = fileobj.read().decode("utf-8")
    lines = source.splitlines()
    for where, text in texts(tomllib.loads(source)):
        if text:
            yield _line_of(lines, text), "_", text, [where]


def _line_of(lines: list[str], text: str) -> int:
    quoted = text.replace("\\", "\\\\").replace('"', '\\"')
    for number, line in enumerate(lines, start=1):
        if quoted in line:
            return number
    return 0
