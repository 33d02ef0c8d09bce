"""A connector type's setup guide, read from its module's documentation and made readable.

Every connector module starts with its guide (what to enable at the legacy IdP, the values to
copy back, every setting), written as the light reStructuredText of Ferry's docstrings:
paragraphs, ``=====``-underlined headings, ``*`` and ``1.`` lists with indented continuation
lines, ``::`` literal blocks, ````code````, ``:class:`X``` roles and ``*emphasis*``. The guide
becomes a list of :class:`Block` s whose text is a list of :class:`Span` s, which the templates
render: no markup is ever taken from the docstring itself (everything is escaped).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

_UNDERLINE = re.compile(r"^([=\-~^])\1{2,}\s*$")
_ITEM = re.compile(r"^(\*|-|\d+\.)\s+")
_INLINE = re.compile(r"``(?P<code>.+?)``|:[a-z]+:`~?(?P<role>[^`]+)`|`(?P<tick>[^`]+)`"
                     r"|\*\*(?P<strong>[^*]+)\*\*|(?<![\w*])\*(?P<em>[^*\s][^*]*?)\*(?![\w*])")


@dataclass(frozen=True)
class Span:
    """A piece of text: ``text``, ``code``, ``strong`` or ``em``."""

    kind: str
    text: str


@dataclass(frozen=True)
class Block:
    """``heading``, ``lead`` (a short line ending with a colon), ``paragraph``, ``bullets``,
    ``numbered`` or ``literal``; ``setup`` marks where the setup at the legacy side is told."""

    kind: str
    spans: list[Span] = field(default_factory=list)
    items: list[list[Span]] = field(default_factory=list)
    literal: str = ""
    setup: bool = False


def spans(text: str) -> list[Span]:
    """``text`` cut into plain and marked-up pieces."""
    found: list[Span] = []
    at = 0
    for match in _INLINE.finditer(text):
        if match.start() > at:
            found.append(Span("text", text[at:match.start()]))
        kind = match.lastgroup or "text"
        value = match.group(kind)
        if kind == "role":
            value = value.split(".")[-1] if value.count(".") and " " not in value else value
        found.append(Span("code" if kind in ("code", "role", "tick") else kind, value))
        at = match.end()
    if at < len(text):
        found.append(Span("text", text[at:]))
    return found


def _chunks(doc: str) -> list[list[str]]:
    chunks: list[list[str]] = [[]]
    for line in doc.splitlines():
        if line.strip():
            chunks[-1].append(line.rstrip())
        elif chunks[-1]:
            chunks.append([])
    return [chunk for chunk in chunks if chunk]


def _list(lines: list[str]) -> Block:
    items: list[str] = []
    numbered = bool(re.match(r"^\d+\.", lines[0]))
    for line in lines:
        marker = _ITEM.match(line)
        if marker and not line.startswith(" "):
            items.append(line[marker.end():].strip())
        else:
            items[-1] += " " + line.strip()
    return Block("numbered" if numbered else "bullets", items=[spans(item) for item in items])


def blocks(doc: str) -> list[Block]:
    """The guide ``doc`` as blocks, in order."""
    found: list[Block] = []
    literal_next = False
    for lines in _chunks(doc):
        if literal_next or all(line.startswith("  ") for line in lines):
            indent = min(len(line) - len(line.lstrip()) for line in lines)
            found.append(Block("literal", literal="\n".join(line[indent:] for line in lines)))
            literal_next = False
            continue
        if len(lines) >= 2 and _UNDERLINE.match(lines[1]):
            found.append(Block("heading", spans(lines[0].strip())))
            lines = lines[2:]
            if not lines:
                continue
        if _ITEM.match(lines[0]):
            found.append(_list(lines))
            continue
        text = " ".join(line.strip() for line in lines)
        literal_next = text.endswith("::")
        if literal_next:
            text = text[:-1]
        setup = text.startswith("Setup")
        kind = "lead" if len(lines) == 1 and text.endswith(":") and len(text) < 90 else "paragraph"
        found.append(Block(kind, spans(text), setup=setup))
    return found


def guide_text(cls) -> str:
    """The setup guide of a connector type: its module's documentation (else its class's)."""
    module = sys.modules.get(cls.__module__)
    return ((module.__doc__ if module else None) or cls.__doc__ or "").strip()


def summary(cls) -> list[Span]:
    """The guide's first paragraph: what the type talks to."""
    return spans(" ".join(guide_text(cls).split("\n\n")[0].split()))
