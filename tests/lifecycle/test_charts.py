"""The SVG charts parse as XML, carry their text alternative (``role="img"`` labelled by their
own title and description), escape every label (an operator's connector name included, with
characters XML cannot hold), draw what they are given and leave the colours to CSS."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from lifecycle import charts
from lifecycle.charts import Row, Segment, Series

SVG = "{http://www.w3.org/2000/svg}"
NASTY = '<script>alert("x")</script> & \x01\x1f co'


def parsed(markup) -> ET.Element:
    root = ET.fromstring(str(markup))  # noqa: S314 (our own output)
    assert root.tag == f"{SVG}svg"
    return root


def alternative(root: ET.Element) -> tuple[str, str]:
    """The chart's title and description, found through its aria-labelledby."""
    assert root.get("role") == "img"
    ids = root.get("aria-labelledby").split()
    by_id = {element.get("id"): element for element in root.iter() if element.get("id")}
    title, desc = (by_id[name] for name in ids)
    assert title.tag == f"{SVG}title" and desc.tag == f"{SVG}desc"
    return title.text, desc.text


def texts(root: ET.Element) -> list[str]:
    return ["".join(element.itertext()) for element in root.iter(f"{SVG}text")]


def every_chart():
    rows = [Row(NASTY, (Segment(3, "migrated"), Segment(1, "remaining")), "75 %"),
            Row("ldap", (Segment(0, "migrated"), Segment(4, "remaining")), "0 %")]
    yield charts.bar_chart("c1", f"Progress {NASTY}", f"desc {NASTY}", rows,
                           legend=[("migrated", "Migrated"), ("remaining", NASTY)])
    yield charts.bar_chart("c2", "Latency", "d", [Row(NASTY, (Segment(5, "p50", "p50 5 ms"),
                                                               Segment(9, "p95", "p95 9 ms")))],
                           stacked=False)
    yield charts.bar_chart("c3", "Funnel", "d", [Row("Migrated", (Segment(10, "funnel"),), "10"),
                                                  Row("Passkey", (Segment(4, "funnel"),), "4")],
                           centred=True, maximum=10)
    yield charts.column_chart("c4", "Per day", "d", [(f"{n} Dec", n) for n in range(30)])
    yield charts.line_chart("c5", "Forecast", NASTY,
                            [Series("remaining", "Remaining", ((-3, 10), (-2, 8), (0, 5))),
                             Series("forecast", NASTY, ((0, 5), (10, 1)))],
                            x_ticks=[(-3, "1 Dec"), (10, "14 Dec")], y_ticks=[(0, "0"), (10, "10")],
                            marks=[(9.5, "95 % 13 Dec")])


@pytest.mark.parametrize("markup", list(every_chart()), ids=["stacked", "grouped", "funnel",
                                                              "columns", "lines"])
def test_parses_as_xml_with_its_text_alternative(markup):
    root = parsed(markup)
    title, desc = alternative(root)
    assert title and desc
    assert "<script>" not in str(markup) and "\x01" not in str(markup)
    # Colours come from CSS: shapes have classes, never a fill or a stroke of their own.
    for element in root.iter():
        assert element.get("fill") is None and element.get("stroke") is None and \
            element.get("style") is None
        if element.tag in (f"{SVG}rect", f"{SVG}polyline"):
            assert element.get("class", "").startswith(("chart-bar", "chart-line"))


def test_labels_come_back_unescaped_once_parsed():
    root = parsed(charts.bar_chart("c", NASTY, NASTY, [Row("a < b & c", (Segment(1, "x"),), "1")]))
    assert alternative(root) == ('<script>alert("x")</script> &  co',) * 2
    assert "a < b & c" in texts(root)


def test_long_labels_are_shortened_in_the_drawing():
    label = "a-connector-with-a-name-much-longer-than-the-chart-has-room-for"
    root = parsed(charts.bar_chart("c", "t", "d", [Row(label, (Segment(1, "x"),), "1")]))
    shown = texts(root)[0]
    assert shown.endswith("…") and len(shown) == charts.LABEL_CHARS


def test_stacked_bars_are_proportional():
    root = parsed(charts.bar_chart("c", "t", "d", [
        Row("a", (Segment(30, "migrated"), Segment(10, "remaining")), ""),
        Row("b", (Segment(0, "migrated"), Segment(20, "remaining")), "")]))
    widths = [(rect.get("class"), float(rect.get("width"))) for rect in root.iter(f"{SVG}rect")]
    # An empty segment is not drawn; the longest row spans the bar area.
    assert [kind for kind, _width in widths] == ["chart-bar chart-bar--migrated",
                                                  "chart-bar chart-bar--remaining",
                                                  "chart-bar chart-bar--remaining"]
    full = widths[0][1] + widths[1][1]
    assert widths[0][1] / full == pytest.approx(0.75, abs=0.01)
    assert widths[2][1] / full == pytest.approx(0.5, abs=0.01)


def test_columns_have_round_ticks_and_one_bar_each():
    root = parsed(charts.column_chart("c", "t", "d", [("a", 3), ("b", 0), ("c", 17)], label_every=1))
    assert len(list(root.iter(f"{SVG}rect"))) == 3
    assert [label for label in texts(root)][:3] == ["0", "10", "20"]


def test_round_ticks():
    assert [value for value, _label in charts.round_ticks(17)] == [0, 10, 20]
    assert [value for value, _label in charts.round_ticks(0)] == [0]
    assert [label for _value, label in charts.round_ticks(12_000)] == ["0", "10,000", "20,000"]


def test_empty_charts_still_parse():
    for markup in (charts.bar_chart("e", "t", "d", []), charts.column_chart("e", "t", "d", []),
                   charts.line_chart("e", "t", "d", [], x_ticks=[], y_ticks=[])):
        alternative(parsed(markup))


def test_legends_name_each_kind():
    legend = [("migrated", "Migrated"), ("remaining", "Remaining")]
    bars = parsed(charts.bar_chart("c", "t", "d", [Row("a", (Segment(1, "migrated"),), "")],
                                   legend=legend))
    assert texts(bars)[:2] == ["Migrated", "Remaining"]
    lines = parsed(charts.line_chart("c", "t", "d", [Series("remaining", "Remaining", ((0, 1),))],
                                     x_ticks=[], y_ticks=[]))
    assert texts(lines)[0] == "Remaining"
    assert [line.get("class") for line in lines.iter(f"{SVG}line")][0] == "chart-line chart-line--remaining"
