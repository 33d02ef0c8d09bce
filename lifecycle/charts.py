"""Server-rendered SVG charts: horizontal bars (stacked, grouped or as a funnel), columns and
lines. No script, no external resource; the page's CSS decides the colours.

Every chart is one ``<svg role="img">`` labelled by its own ``<title>`` and ``<desc>``
(``aria-labelledby``): the title names the chart, the description says its figures in words.
The page shows the same figures as a table next to it. Shapes carry classes
(``chart-bar chart-bar--migrated``, ``chart-line chart-line--forecast``...), never a colour.

Every text is escaped for XML, characters XML cannot hold are dropped (a connector's name comes
from an operator), and long labels are shortened in the drawing (the table has them whole).
Callers pass numbers already formatted for people wherever a number is written out.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup

#: The drawing's width in user units; the SVG scales to its container.
WIDTH = 360
FONT = 13
LABEL_CHARS = 40
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def text(value: object, limit: int | None = None) -> str:
    """``value`` as XML character data: escaped, without the characters XML forbids, and cut to
    ``limit`` characters with an ellipsis."""
    shown = _NOT_XML.sub("", str(value))
    if limit is not None and len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return html.escape(shown, quote=True)


def _id(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", value) or "chart"


def _number(value: float) -> str:
    return f"{value:,.0f}"


def _svg(chart_id: str, title: str, desc: str, height: float, body: Sequence[str],
         kind: str) -> Markup:
    chart_id = _id(chart_id)
    return Markup(  # noqa: S704  # nosec B704 (every text in it went through text())
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart--{kind}" role="img" '
        f'viewBox="0 0 {WIDTH} {height:.0f}" width="{WIDTH}" height="{height:.0f}" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" id="{chart_id}">'
        f'<title id="{chart_id}-title">{text(title)}</title>'
        f'<desc id="{chart_id}-desc">{text(desc)}</desc>' + "".join(body) + "</svg>")


@dataclass(frozen=True)
class Segment:
    """One bar, or one part of a stacked bar: its value, its kind (the CSS modifier) and, for
    a grouped chart, the text written after it."""

    value: float
    kind: str
    note: str = ""


@dataclass(frozen=True)
class Row:
    """One labelled row of a bar chart; ``note`` is written after a stacked bar."""

    label: str
    segments: tuple[Segment, ...]
    note: str = ""


def _legend(legend: Sequence[tuple[str, str]], y: float, swatch: str = "bar") -> list[str]:
    parts, x = [], 0.0
    for kind, label in legend:
        swatch_shape = (
            f'<rect class="chart-bar chart-bar--{_id(kind)}" x="{x:.1f}" y="{y - 10:.1f}" '
            f'width="12" height="12" rx="2"/>' if swatch == "bar" else
            f'<line class="chart-line chart-line--{_id(kind)}" x1="{x:.1f}" x2="{x + 12:.1f}" '
            f'y1="{y - 4:.1f}" y2="{y - 4:.1f}"/>')
        parts.append(swatch_shape + f'<text class="chart-text" x="{x + 16:.1f}" y="{y:.1f}">'
                     f'{text(label, 28)}</text>')
        x += 24 + 7.2 * min(len(label), 28)
    return parts


def bar_chart(chart_id: str, title: str, desc: str, rows: Sequence[Row], *,
              stacked: bool = True, centred: bool = False,
              legend: Sequence[tuple[str, str]] = (), maximum: float | None = None) -> Markup:
    """Horizontal bars, one row per label (the label above its bar).

    ``stacked``: a row's segments make one bar, ``note`` after it; otherwise each segment is a
    thinner bar of its own with its own note (p50 and p95 side by side). ``centred``: bars grow
    from the middle (a funnel). ``maximum``: the value of a full-width bar (default: the largest).
    """
    note_room = 0 if centred else 96
    span = WIDTH - note_room
    totals = [sum(s.value for s in row.segments) if stacked else
              max((s.value for s in row.segments), default=0) for row in rows]
    top = maximum if maximum is not None else max(totals, default=0)
    scale = span / top if top > 0 else 0.0
    body = _legend(legend, FONT) if legend else []
    y = FONT * 2 + 4 if legend else 4.0
    bar = 18.0 if stacked else 14.0
    for row in rows:
        y += FONT
        anchor = ' text-anchor="middle"' if centred else ""
        x_label = WIDTH / 2 if centred else 0
        body.append(f'<text class="chart-text chart-label" x="{x_label:.1f}" y="{y:.1f}"{anchor}>'
                    f'{text(row.label, LABEL_CHARS)}'
                    f'{(" · " + text(row.note)) if centred and row.note else ""}</text>')
        y += 5
        if stacked:
            total = sum(s.value for s in row.segments) * scale
            x = (WIDTH - total) / 2 if centred else 0.0
            for segment in row.segments:
                width = segment.value * scale
                if width > 0:
                    body.append(f'<rect class="chart-bar chart-bar--{_id(segment.kind)}" '
                                f'x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{bar:.0f}"/>')
                x += width
            if row.note and not centred:
                body.append(f'<text class="chart-text chart-value" x="{x + 6:.1f}" '
                            f'y="{y + bar - 5:.1f}">{text(row.note)}</text>')
            y += bar + 8
        else:
            for segment in row.segments:
                width = segment.value * scale
                body.append(f'<rect class="chart-bar chart-bar--{_id(segment.kind)}" x="0" '
                            f'y="{y:.1f}" width="{width:.1f}" height="{bar:.0f}"/>'
                            f'<text class="chart-text chart-value" x="{width + 6:.1f}" '
                            f'y="{y + bar - 3:.1f}">{text(segment.note)}</text>')
                y += bar + 4
            y += 8
    return _svg(chart_id, title, desc, y + 4, body, "bars")


def round_ticks(top: float, number: Callable[[float], str] = _number) -> list[tuple[float, str]]:
    """Up to three round y ticks from 0 to at least ``top``."""
    if top <= 0:
        return [(0.0, number(0))]
    step = 10 ** max(len(str(int(top))) - 1, 0)
    for factor in (1, 2, 5, 10):
        if top / (step * factor) <= 4:
            step *= factor
            break
    ticks, value = [], 0.0
    while value < top + step:
        ticks.append((value, number(value)))
        if value >= top:
            break
        value += step
    return ticks


def column_chart(chart_id: str, title: str, desc: str, columns: Sequence[tuple[str, float]], *,
                 kind: str = "migrated", label_every: int = 7,
                 number: Callable[[float], str] = _number) -> Markup:
    """Vertical columns (one a day, say) with a y axis of round ticks; every ``label_every``-th
    column is labelled below (and the last one)."""
    height, left, bottom, top_pad = 200.0, 44.0, 30.0, 10.0
    plot = height - bottom - top_pad
    ticks = round_ticks(max((value for _label, value in columns), default=0), number)
    top = ticks[-1][0] or 1.0
    body = []
    for value, label in ticks:
        y = top_pad + plot - value / top * plot
        body.append(f'<line class="chart-grid" x1="{left:.1f}" x2="{WIDTH}" y1="{y:.1f}" y2="{y:.1f}"/>'
                    f'<text class="chart-text chart-tick" x="{left - 6:.1f}" y="{y + 4:.1f}" '
                    f'text-anchor="end">{text(label)}</text>')
    slot = (WIDTH - left) / max(len(columns), 1)
    for index, (label, value) in enumerate(columns):
        bar = value / top * plot
        x = left + index * slot
        body.append(f'<rect class="chart-bar chart-bar--{_id(kind)}" x="{x + slot * 0.15:.1f}" '
                    f'y="{top_pad + plot - bar:.1f}" width="{slot * 0.7:.1f}" height="{bar:.1f}"/>')
        last = index == len(columns) - 1
        if last or (index % label_every == 0 and len(columns) - 1 - index >= label_every / 2):
            anchor = "end" if last else "start" if index == 0 else "middle"
            at = x + slot if last else x if index == 0 else x + slot / 2
            body.append(f'<text class="chart-text chart-tick" x="{at:.1f}" y="{height - 10:.1f}" '
                        f'text-anchor="{anchor}">{text(label, 12)}</text>')
    return _svg(chart_id, title, desc, height, body, "columns")


@dataclass(frozen=True)
class Series:
    """One line of a line chart: its kind (CSS modifier), its legend label and its points
    ``(x, y)`` in the chart's own units (days, users)."""

    kind: str
    label: str
    points: tuple[tuple[float, float], ...]


def line_chart(chart_id: str, title: str, desc: str, series: Sequence[Series], *,
               x_ticks: Sequence[tuple[float, str]], y_ticks: Sequence[tuple[float, str]],
               marks: Sequence[tuple[float, str]] = ()) -> Markup:
    """Lines over a shared x range, with labelled ticks on both axes and vertical ``marks``
    (a forecast date, say) labelled at the top."""
    height, left, bottom, top_pad = 230.0, 52.0, 30.0, 42.0
    plot_w, plot_h = WIDTH - left - 8, height - bottom - top_pad
    xs = [x for line in series for x, _y in line.points] + [x for x, _l in x_ticks]
    xs += [x for x, _l in marks]
    ys = [y for line in series for _x, y in line.points] + [y for y, _l in y_ticks]
    x0, x1 = min(xs, default=0.0), max(xs, default=1.0)
    y1 = max(ys, default=1.0) or 1.0
    x_span = (x1 - x0) or 1.0

    def px(x: float) -> float:
        return left + (x - x0) / x_span * plot_w

    def py(y: float) -> float:
        return top_pad + plot_h - y / y1 * plot_h

    body = _legend([(line.kind, line.label) for line in series], FONT, swatch="line")
    for y, label in y_ticks:
        body.append(f'<line class="chart-grid" x1="{left:.1f}" x2="{WIDTH - 8}" y1="{py(y):.1f}" '
                    f'y2="{py(y):.1f}"/><text class="chart-text chart-tick" x="{left - 6:.1f}" '
                    f'y="{py(y) + 4:.1f}" text-anchor="end">{text(label)}</text>')
    for x, label in x_ticks:
        anchor = "start" if x <= x0 else "end" if x >= x1 else "middle"
        body.append(f'<text class="chart-text chart-tick" x="{px(x):.1f}" y="{height - 10:.1f}" '
                    f'text-anchor="{anchor}">{text(label, 12)}</text>')
    for number, (x, label) in enumerate(marks):
        body.append(f'<line class="chart-mark" x1="{px(x):.1f}" x2="{px(x):.1f}" '
                    f'y1="{top_pad - 4:.1f}" y2="{top_pad + plot_h:.1f}"/>'
                    f'<text class="chart-text chart-tick" x="{px(x) - 3:.1f}" '
                    f'y="{top_pad - 6 - 12 * (number % 2):.1f}" text-anchor="end">{text(label, 20)}</text>')
    for line in series:
        if line.points:
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in line.points)
            body.append(f'<polyline class="chart-line chart-line--{_id(line.kind)}" '
                        f'points="{path}"/>')
    return _svg(chart_id, title, desc, height, body, "lines")
