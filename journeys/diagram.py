"""Journeys drawn: a small graph model of a parsed journey, rendered as Mermaid for the docs.

:func:`build_graph` turns a :class:`~journeys.definition.Journey` into a :class:`Graph`: one
:class:`Node` per step (its type, whether it ends the journey, its distance from ``start``, and
for a ``switch`` step the journey it continues in) and one :class:`Edge` per (step, next step)
pair, carrying every outcome routed there. Steps that ``start`` cannot reach are kept and
flagged: validation allows them (a deployment may unroute the only way in), and an operator
should see them. :func:`render_mermaid` draws the graph for docs/journeys.md and
:mod:`journeys.diagram_svg` draws the same graph as server-rendered SVG for the admin portal.

The edges are the routes as written in ``on``. An optional outcome left unrouted takes another
outcome's route at run time (``Step.optional_outcomes``), but whether the step ever reports it
depends on its settings (``collect`` only reports ``federate`` when it shows providers), so
drawing those fallbacks would show paths that do not exist.

The docs hold one diagram per shipped journey between ``<!-- diagrams:begin -->`` and
``<!-- diagrams:end -->`` in docs/journeys.md; ``python -m journeys.diagram --write`` rewrites
them, ``--check`` (the default) exits 1 when they are out of date, and tests/test_docs.py fails
the same way. Output is deterministic: steps in the order the journey lists them, edges in the
order of their ``on`` tables.
"""

from __future__ import annotations

import argparse
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from journeys.definition import Journey, load_journeys
from journeys.steps import ValidationContext

ROOT = Path(__file__).resolve().parent.parent
DOCS_FILE = ROOT / "docs" / "journeys.md"
BEGIN = "<!-- diagrams:begin -->"
END = "<!-- diagrams:end -->"

# Mermaid styles: steps that end the journey are rounded and green, unreachable ones dashed
# red (declared last so that it wins on an unreachable terminal step), other journeys blue.
_CLASS_DEFS = {
    "terminal": "fill:#e6f4ea,stroke:#1e7e34,stroke-width:2px",
    "journey": "fill:#eef2ff,stroke:#3949ab",
    "unreachable": "fill:#fdecea,stroke:#c62828,stroke-dasharray:5 3",
}
# Characters a quoted Mermaid label shows as they are; any other becomes an entity code (#34;),
# so a name from the configuration can neither end the label nor inject markup.
_MERMAID_SAFE = frozenset(" -_.,:()/'")


@dataclass(frozen=True)
class Node:
    """One step: its name and type, whether it ends the journey, its BFS depth from ``start``
    (``None`` when ``start`` cannot reach it), and for a ``switch`` step the journey it opens."""

    name: str
    type: str
    terminal: bool
    depth: int | None
    journey: str | None = None

    @property
    def reachable(self) -> bool:
        """Whether the journey's ``start`` can lead here."""
        return self.depth is not None

    @property
    def label(self) -> str:
        """How the step reads in a diagram: ``"verify (otp_verify)"``."""
        return f"{self.name} ({self.type})"


@dataclass(frozen=True)
class Edge:
    """Every outcome of ``source`` routed to ``target``, in the order ``on`` lists them."""

    source: str
    target: str
    outcomes: tuple[str, ...]

    @property
    def label(self) -> str:
        """The outcomes as one arrow label: ``"failure, throttled"``."""
        return ", ".join(self.outcomes)


@dataclass(frozen=True)
class Graph:
    """A journey as boxes and arrows: what both renderers draw."""

    journey: str
    title: str
    start: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]

    def node(self, name: str) -> Node:
        """The node of the step called ``name``."""
        return next(node for node in self.nodes if node.name == name)

    @property
    def unreachable(self) -> tuple[str, ...]:
        """Names of the steps ``start`` cannot reach, in journey order."""
        return tuple(node.name for node in self.nodes if not node.reachable)


def depths(start: str, edges: tuple[Edge, ...]) -> dict[str, int]:
    """Breadth-first distance from ``start`` of every step it reaches, in discovery order.

    >>> depths("a", (Edge("a", "b", ("ok",)), Edge("b", "a", ("back",))))
    {'a': 0, 'b': 1}
    """
    targets: dict[str, list[str]] = {}
    for edge in edges:
        targets.setdefault(edge.source, []).append(edge.target)
    found, queue = {start: 0}, deque([start])
    while queue:
        name = queue.popleft()
        for target in targets.get(name, ()):
            if target not in found:
                found[target] = found[name] + 1
                queue.append(target)
    return found


def build_graph(journey: Journey) -> Graph:
    """The :class:`Graph` of a parsed (and so validated) journey."""
    edges = []
    for name, step in journey.steps.items():
        by_target: dict[str, list[str]] = {}
        for outcome, target in step.settings.on.items():
            by_target.setdefault(target, []).append(outcome)
        edges += [Edge(name, target, tuple(outcomes)) for target, outcomes in by_target.items()]
    reached = depths(journey.start, tuple(edges))
    nodes = tuple(
        Node(name, step.type, step.terminal, reached.get(name),
             getattr(step.settings, "journey", None) if step.type == "switch" else None)
        for name, step in journey.steps.items())
    return Graph(journey.name, journey.title, journey.start, nodes, tuple(edges))


def _mermaid_text(text: str) -> str:
    return "".join(c if c.isalnum() or c in _MERMAID_SAFE else f"#{ord(c)};" for c in text)


def render_mermaid(graph: Graph) -> str:
    """The journey as a Mermaid ``flowchart TD``, without the surrounding code fence.

    Steps are boxes labelled "name (type)" (rounded for the steps that end the journey), an
    arrow per next step labelled with every outcome that leads there, a dotted arrow from a
    ``switch`` step to the journey it opens, and unreachable steps marked in words and colour.
    Node ids are generated (``s0``, ``j0``), so any step name is safe.
    """
    ids = {node.name: f"s{index}" for index, node in enumerate(graph.nodes)}
    journeys = list(dict.fromkeys(node.journey for node in graph.nodes if node.journey))
    journey_ids = {name: f"j{index}" for index, name in enumerate(journeys)}
    lines = ["flowchart TD", f"  entry((start)) --> {ids[graph.start]}"]
    for node in graph.nodes:
        text = _mermaid_text(node.label)
        if not node.reachable:
            text += "<br/>unreachable"
        opening, closing = ('("', '")') if node.terminal else ('["', '"]')
        lines.append(f"  {ids[node.name]}{opening}{text}{closing}")
    for name in journeys:
        lines.append(f'  {journey_ids[name]}(["journey {_mermaid_text(name)}"])')
    for edge in graph.edges:
        lines.append(f'  {ids[edge.source]} -->|"{_mermaid_text(edge.label)}"| {ids[edge.target]}')
    for node in graph.nodes:
        if node.journey:
            lines.append(f"  {ids[node.name]} -.-> {journey_ids[node.journey]}")
    members = {
        "terminal": [ids[node.name] for node in graph.nodes if node.terminal],
        "journey": list(journey_ids.values()),
        "unreachable": [ids[name] for name in graph.unreachable],
    }
    for css_class, style in _CLASS_DEFS.items():
        if members[css_class]:
            lines.append(f"  classDef {css_class} {style}")
            lines.append(f"  class {','.join(members[css_class])} {css_class}")
    return "\n".join(lines) + "\n"


def shipped_journeys() -> dict[str, Journey]:
    """The journeys Ferry ships, loaded as a deployment with no journeys and no connectors of
    its own would load them."""
    return load_journeys({}, ValidationContext(connectors={}))


def render_section(journeys: dict[str, Journey]) -> str:
    """The generated part of docs/journeys.md: a heading and a Mermaid diagram per journey."""
    parts = []
    for name, journey in journeys.items():
        heading = f"### {journey.title} (`{name}`)" if journey.title else f"### `{name}`"
        parts.append(f"{heading}\n\n```mermaid\n{render_mermaid(build_graph(journey))}```\n")
    return "\n".join(parts)


def rewrite(text: str, journeys: dict[str, Journey] | None = None) -> str:
    """``text`` with the part between the diagram markers replaced by the diagrams drawn now
    (of ``journeys``; by default the shipped ones)."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{DOCS_FILE.name}: markers {BEGIN} ... {END} not found")
    section = render_section(shipped_journeys() if journeys is None else journeys)
    return text[: start + len(BEGIN)] + "\n" + section + text[end:]


def is_stale(path: Path | None = None) -> bool:
    """Whether ``path`` (docs/journeys.md) holds other diagrams than the shipped journeys draw now."""
    text = (path or DOCS_FILE).read_text(encoding="utf-8")
    return rewrite(text) != text


def main(argv: list[str] | None = None) -> int:
    """``python -m journeys.diagram [--write | --check]``: rewrite or check the docs' diagrams."""
    parser = argparse.ArgumentParser(prog="python -m journeys.diagram",
                                     description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the diagrams in docs/journeys.md")
    mode.add_argument("--check", action="store_true",
                      help="exit 1 when the diagrams are out of date (default)")
    args = parser.parse_args(argv)
    relative = DOCS_FILE.relative_to(ROOT)
    text = DOCS_FILE.read_text(encoding="utf-8")
    try:
        fresh = rewrite(text)
    except ValueError as error:  # the markers are missing: say so, without a traceback
        sys.stderr.write(f"{error}\n")
        return 2
    if fresh == text:
        return 0
    if args.write:
        DOCS_FILE.write_text(fresh, encoding="utf-8")
        sys.stdout.write(f"rewrote {relative}\n")
        return 0
    sys.stderr.write(f"{relative} is out of date: run `python -m journeys.diagram --write`\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
