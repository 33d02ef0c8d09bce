"""A journey's :class:`~journeys.diagram.Graph` as server-rendered SVG (the admin portal's diagram).

No JavaScript and no stylesheet: the layout is computed here and the look is given by
presentation attributes (``fill``, ``stroke``), which a ``default-src 'self'`` Content Security
Policy allows where an inline ``<style>`` would be refused. Every element also carries a class
(``step``, ``terminal``, ``switch``, ``unreachable``, ``start``, ``edge``), so a page's own
stylesheet can restyle it, and ``data-step`` / ``data-source`` / ``data-target`` attributes for
later interactions.

The layout is layered: a step's row is its breadth-first depth from ``start``, steps that
``start`` cannot reach get a last row of their own, and each row is centred, its steps in the
order the search found them. Because a breadth-first depth grows by at most one along an arrow,
an arrow that goes down spans exactly one gap between rows; arrows that go back up (a failure
that returns to the sign-in page) bow out to the right of both boxes, arrows within a row arch
over it, and a step that routes to itself gets a small loop. Text is measured as monospace
(0.6 em a character), so boxes fit their labels without a browser.

The document is built with :mod:`xml.etree.ElementTree`, which escapes every name and outcome
(they come from the configuration); characters XML 1.0 cannot hold at all are replaced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element, SubElement, tostring  # nosec B405 # builds SVG, never parses

from journeys.diagram import Graph, Node, depths

FONT = "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace"
FONT_SIZE = 13
LABEL_SIZE = 11
CHAR = 0.6  # em: the advance of one monospace character
LINE = 17
PAD_X, PAD_Y = 12, 10
ROW_GAP, COLUMN_GAP, MARGIN = 64, 32, 12
BOW, BOW_PER_ROW, ARCH = 28, 12, 36

_STYLE = {  # class -> (fill, stroke, dash); the last class of a step that has one wins
    "step": ("#ffffff", "#5f6368", None),
    "terminal": ("#e6f4ea", "#1e7e34", None),
    "switch": ("#eef2ff", "#3949ab", None),
    "unreachable": ("#fdecea", "#c62828", "5 3"),
}
_INK, _EDGE = "#202124", "#5f6368"
# Code points XML 1.0 cannot carry, even escaped (most C0 controls, surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class Box:
    """Where one step is drawn, and the lines written in it."""

    node: Node
    row: int
    x: float
    y: float
    width: float
    height: float
    lines: tuple[str, ...]

    @property
    def cx(self) -> float:
        """The horizontal centre."""
        return self.x + self.width / 2

    @property
    def cy(self) -> float:
        """The vertical centre."""
        return self.y + self.height / 2

    @property
    def right(self) -> float:
        """The right edge."""
        return self.x + self.width

    @property
    def bottom(self) -> float:
        """The bottom edge."""
        return self.y + self.height


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """The width ``text`` takes in the diagram's monospace font at ``size`` pixels."""
    return len(text) * size * CHAR


def _lines(node: Node) -> tuple[str, ...]:
    lines = [node.label]
    if node.journey:
        lines.append(f"\u2192 journey {node.journey}")
    if not node.reachable:
        lines.append("unreachable")
    return tuple(lines)


def layout(graph: Graph) -> dict[str, Box]:
    """Every step's :class:`Box`: rows by breadth-first depth, unreachable steps last."""
    found = depths(graph.start, graph.edges)
    rows: list[list[str]] = [[] for _ in range(max(found.values()) + 1)]
    for name in found:  # discovery order
        rows[found[name]].append(name)
    if graph.unreachable:
        rows.append(list(graph.unreachable))
    nodes = {node.name: node for node in graph.nodes}
    lines = {node.name: _lines(node) for node in graph.nodes}
    sizes = {name: (text, max(map(text_width, text)) + 2 * PAD_X) for name, text in lines.items()}
    widths = [sum(sizes[name][1] for name in row) + COLUMN_GAP * (len(row) - 1) for row in rows]
    content = max(widths)
    sources: dict[str, list[str]] = {}
    for edge in graph.edges:
        sources.setdefault(edge.target, []).append(edge.source)
    boxes: dict[str, Box] = {}
    y = 0.0
    for index, row in enumerate(rows):
        # One top-down sweep of the barycentre rule: a step goes under the steps of the row
        # above that lead to it, which uncrosses most downward arrows; ties keep the order.
        keys = {name: _mean([boxes[s].cx for s in sources.get(name, ())
                             if s in boxes and boxes[s].row == index - 1], content / 2)
                for name in row}
        row.sort(key=keys.__getitem__)
        height = max(len(sizes[name][0]) for name in row) * LINE + 2 * PAD_Y
        x = (content - widths[index]) / 2
        for name in row:
            text, width = sizes[name]
            boxes[name] = Box(nodes[name], index, x, y, width, height, text)
            x += width + COLUMN_GAP
        y += height + ROW_GAP
    return boxes


def _mean(values: list[float], default: float) -> float:
    return sum(values) / len(values) if values else default


def _number(value: float) -> str:
    # One decimal at most, no trailing zeros: stable text for stable output.
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _path(points: tuple[tuple[float, float], ...]) -> str:
    (x0, y0), *controls = points
    return f"M{_number(x0)},{_number(y0)} C" + " ".join(
        f"{_number(x)},{_number(y)}" for x, y in controls)


def _curve(source: Box, target: Box, middle: float) -> tuple[tuple[float, float], ...]:
    """The four points of the cubic Bézier curve of an arrow from ``source`` to ``target``
    (``middle``: the horizontal centre of the drawing, which upward arrows bow away from)."""
    if source is target:
        right, cy = source.right, source.cy
        return (right, cy - 8), (right + 44, cy - 30), (right + 44, cy + 30), (right, cy + 8)
    if target.row > source.row:
        gap = (source.bottom + target.y) / 2
        return (source.cx, source.bottom), (source.cx, gap), (target.cx, gap), (target.cx, target.y)
    if target.row == source.row:
        return ((source.cx, source.y), (source.cx, source.y - ARCH), (target.cx, target.y - ARCH),
                (target.cx, target.y))
    reach = BOW + BOW_PER_ROW * (source.row - target.row)
    if source.cx + target.cx < 2 * middle:  # on the left half: bow out to the left
        bow = min(source.x, target.x) - reach
        return (source.x, source.cy), (bow, source.cy), (bow, target.cy), (target.x, target.cy)
    bow = max(source.right, target.right) + reach
    return (source.right, source.cy), (bow, source.cy), (bow, target.cy), (target.right, target.cy)


def _midpoint(points: tuple[tuple[float, float], ...]) -> tuple[float, float]:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = points
    return (x0 + 3 * x1 + 3 * x2 + x3) / 8, (y0 + 3 * y1 + 3 * y2 + y3) / 8


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _element_id(journey: str) -> str:
    return "journey-diagram-" + re.sub(r"[^A-Za-z0-9_-]+", "-", journey)


class _Bounds:
    """The smallest rectangle around everything drawn, grown as things are placed."""

    def __init__(self) -> None:
        self.left = self.top = float("inf")
        self.right = self.bottom = float("-inf")

    def add(self, x0: float, y0: float, x1: float, y1: float) -> None:
        self.left, self.top = min(self.left, x0), min(self.top, y0)
        self.right, self.bottom = max(self.right, x1), max(self.bottom, y1)


def _draw_edges(parent: Element, graph: Graph, boxes: dict[str, Box], arrow: str,
                bounds: _Bounds) -> None:
    layer = SubElement(parent, "g", {"class": "edges"})
    middle = (min(box.x for box in boxes.values()) + max(box.right for box in boxes.values())) / 2
    for edge in graph.edges:
        source, target = boxes[edge.source], boxes[edge.target]
        points = _curve(source, target, middle)
        group = SubElement(layer, "g", {
            "class": "edge", "data-source": _clean(edge.source), "data-target": _clean(edge.target),
            "data-outcomes": _clean(" ".join(edge.outcomes))})
        SubElement(group, "path", {"d": _path(points), "fill": "none", "stroke": _EDGE,
                                   "stroke-width": "1.3", "marker-end": f"url(#{arrow})"})
        x, y = _midpoint(points)
        label = _clean(edge.label)
        width = text_width(label, LABEL_SIZE)
        if source is target or (target.row < source.row and points[1][0] > source.cx):
            x += 4  # beside a curve that bows out to the right
        elif target.row < source.row:
            x -= width + 4  # beside one that bows out to the left
        else:
            x -= width / 2
        text = SubElement(group, "text", {
            "x": _number(x), "y": _number(y + LABEL_SIZE / 3), "font-size": str(LABEL_SIZE),
            "fill": _INK, "stroke": "#ffffff", "stroke-width": "3", "paint-order": "stroke"})
        text.text = label
        for px, py in points:
            bounds.add(px, py, px, py)
        bounds.add(x, y - LABEL_SIZE, x + width, y + LABEL_SIZE)


def _draw_steps(parent: Element, graph: Graph, boxes: dict[str, Box], bounds: _Bounds) -> None:
    layer = SubElement(parent, "g", {"class": "steps"})
    for node in graph.nodes:
        box = boxes[node.name]
        classes = ["step"]
        classes += ["terminal"] if node.terminal else []
        classes += ["switch"] if node.journey else []
        classes += [] if node.reachable else ["unreachable"]
        classes += ["start"] if node.name == graph.start else []
        fill, stroke, dash = _STYLE[[c for c in classes if c in _STYLE][-1]]
        group = SubElement(layer, "g", {"class": " ".join(classes), "data-step": _clean(node.name)})
        SubElement(group, "title").text = _clean(", ".join(box.lines))
        rect = {"x": _number(box.x), "y": _number(box.y), "width": _number(box.width),
                "height": _number(box.height), "rx": "10" if node.terminal else "3",
                "fill": fill, "stroke": stroke,
                "stroke-width": "2.5" if node.name == graph.start or node.terminal else "1.3"}
        if dash:
            rect["stroke-dasharray"] = dash
        SubElement(group, "rect", rect)
        top = box.cy - (len(box.lines) - 1) * LINE / 2
        for index, line in enumerate(box.lines):
            text = SubElement(group, "text", {
                "x": _number(box.cx), "y": _number(top + index * LINE + FONT_SIZE / 3),
                "text-anchor": "middle", "font-size": str(FONT_SIZE if index == 0 else LABEL_SIZE),
                "fill": _INK})
            text.text = _clean(line)
        bounds.add(box.x, box.y, box.right, box.bottom)


def render_svg(graph: Graph, element_id: str | None = None) -> str:
    """The journey as one ``<svg>`` element (no XML declaration), ready to put in a page.

    ``element_id`` prefixes the ids inside (the title, the arrowhead marker); pass a different
    one for each diagram on a page. By default it is made from the journey's name. The text is
    escaped XML, so a template may mark it safe (``Markup(render_svg(graph))``).

    >>> from journeys.diagram import Edge
    >>> graph = Graph("j", "J", "a", (Node("a", "notice", False, 0), Node("b", "complete", True, 1)),
    ...               (Edge("a", "b", ("continue",)),))
    >>> render_svg(graph).startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    True
    """
    prefix = element_id or _element_id(graph.journey)
    boxes, bounds = layout(graph), _Bounds()
    title = f"Journey {graph.journey}" + (f": {graph.title}" if graph.title else "")
    if graph.unreachable:
        title += f" (unreachable: {', '.join(graph.unreachable)})"
    svg = Element("svg", {"xmlns": "http://www.w3.org/2000/svg", "class": "journey-diagram",
                          "role": "img", "aria-labelledby": f"{prefix}-title",
                          "font-family": FONT})
    SubElement(svg, "title", {"id": f"{prefix}-title"}).text = _clean(title)
    marker = SubElement(SubElement(svg, "defs"), "marker", {
        "id": f"{prefix}-arrow", "viewBox": "0 0 10 10", "refX": "10", "refY": "5",
        "markerWidth": "7", "markerHeight": "7", "orient": "auto-start-reverse"})
    SubElement(marker, "path", {"d": "M0,0 L10,5 L0,10 z", "fill": _EDGE})
    _draw_edges(svg, graph, boxes, f"{prefix}-arrow", bounds)
    _draw_steps(svg, graph, boxes, bounds)
    left, top = bounds.left - MARGIN, bounds.top - MARGIN
    width, height = bounds.right - bounds.left + 2 * MARGIN, bounds.bottom - bounds.top + 2 * MARGIN
    svg.set("viewBox", " ".join(map(_number, (left, top, width, height))))
    svg.set("width", _number(width))
    svg.set("height", _number(height))
    return tostring(svg, encoding="unicode")
