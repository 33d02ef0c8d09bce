"""Journey diagrams: the graph model, its Mermaid for the docs and its SVG for the admin portal."""

from __future__ import annotations

import doctest
import re
import xml.etree.ElementTree as ET

import pytest

from journeys import diagram, diagram_svg
from journeys.definition import parse_journey
from journeys.diagram import Edge, build_graph, render_mermaid, shipped_journeys
from journeys.diagram_svg import render_svg
from journeys.steps import ValidationContext, registry

SVG = "{http://www.w3.org/2000/svg}"
#: A name a configuration may hold: quotes, brackets, a pipe, markup, a Mermaid comment.
HOSTILE = 'a"]; click s0 "javascript:alert(1)" %% <b>|x|</b> & end'


@pytest.fixture(scope="module")
def shipped():
    return shipped_journeys()


def parsed(**steps):
    """A journey ``j`` of ``steps``, starting at the first, validated like a deployment's."""
    registry.discover()
    return parse_journey("j", {"start": next(iter(steps)), "steps": steps}, ValidationContext())


@pytest.fixture
def with_orphan():
    return parsed(
        ask={"type": "identify", "on": {"submitted": "send"}},
        send={"type": "otp_send", "on": {"sent": "done", "unavailable": "ask", "throttled": "ask"}},
        orphan={"type": "notice", "title": "Lost", "on": {"continue": "done"}},
        done={"type": "complete"})


def svg_steps(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)  # noqa: S314 (our own output, parsed to prove it is well-formed)
    assert root.tag == f"{SVG}svg"
    return {group.get("data-step"): group for group in root.iter(f"{SVG}g") if group.get("data-step")}


def test_the_graph_has_every_step_its_type_and_whether_it_ends(shipped):
    graph = build_graph(shipped["sign-in"])
    assert [node.name for node in graph.nodes] == list(shipped["sign-in"].steps)
    assert graph.node("collect").type == "collect" and graph.node("collect").depth == 0
    assert graph.node("done").terminal and not graph.node("local").terminal
    assert graph.node("legacy").depth == 2, "collect -> local -> legacy"


def test_outcomes_to_one_step_are_one_edge_in_on_order(shipped):
    edges = {(e.source, e.target): e for e in build_graph(shipped["sign-in"]).edges}
    assert edges["local", "collect"].outcomes == ("failure", "throttled")
    assert edges["legacy", "collect"].label == "wrong_credentials, not_found, blocked, throttled"
    assert len(edges) == len(build_graph(shipped["sign-in"]).edges), "one edge per pair"


def test_a_switch_step_points_to_its_journey(shipped):
    graph = build_graph(shipped["add-passkey"])
    assert graph.node("sign-in").journey == "sign-in"
    assert graph.node("sign-in-again").journey is None


def test_every_shipped_step_is_reachable(shipped):
    for name, journey in shipped.items():
        assert build_graph(journey).unreachable == (), name


def test_an_unreachable_step_is_found(with_orphan):
    graph = build_graph(with_orphan)
    assert graph.unreachable == ("orphan",)
    assert graph.node("orphan").depth is None and not graph.node("orphan").reachable
    assert graph.node("done").reachable, "reached from send, whatever orphan does"


def test_depths_are_breadth_first():
    edges = (Edge("a", "b", ("x",)), Edge("b", "c", ("x",)), Edge("a", "c", ("y",)),
             Edge("c", "a", ("back",)))
    assert diagram.depths("a", edges) == {"a": 0, "b": 1, "c": 1}


def test_mermaid_draws_boxes_arrows_and_styles(shipped):
    text = render_mermaid(build_graph(shipped["add-passkey"]))
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    assert '  s0["session (session_user)"]' in lines
    assert '  s4("account (account_page)")' in lines, "a step that ends the journey is rounded"
    assert '  s1 -->|"registered, skipped"| s4' in lines, "two outcomes, one arrow"
    assert '  j0(["journey sign-in"])' in lines and "  s3 -.-> j0" in lines
    assert "  class s3,s4 terminal" in lines
    assert "unreachable" not in text


def test_mermaid_flags_an_unreachable_step(with_orphan):
    lines = render_mermaid(build_graph(with_orphan)).splitlines()
    assert '  s2["orphan (notice)<br/>unreachable"]' in lines
    assert "  class s2 unreachable" in lines
    assert lines.index("  classDef unreachable fill:#fdecea,stroke:#c62828,stroke-dasharray:5 3") > \
        lines.index("  class s3 terminal"), "declared last, so it wins on a terminal step"


def test_mermaid_cannot_be_broken_by_a_step_name():
    journey = parsed(**{HOSTILE: {"type": "notice", "title": "t", "on": {"continue": "done"}},
                        "done": {"type": "complete"}})
    line = render_mermaid(build_graph(journey)).splitlines()[2]
    assert re.fullmatch(r'  s0\["[^"<>|\[\]%]*"\]', line), line
    assert "#34;javascript:alert(1)#34;" in line and "#60;b#62;" in line


def test_output_is_deterministic(shipped):
    again = shipped_journeys()
    for name, journey in shipped.items():
        assert render_mermaid(build_graph(journey)) == render_mermaid(build_graph(again[name]))
        assert render_svg(build_graph(journey)) == render_svg(build_graph(again[name]))


def test_svg_is_well_formed_and_has_every_step(shipped):
    for name, journey in shipped.items():
        steps = svg_steps(render_svg(build_graph(journey)))
        assert set(steps) == set(journey.steps), name
        label = steps[journey.start].find(f"{SVG}text").text
        assert label == f"{journey.start} ({journey.step(journey.start).type})"


def test_svg_marks_the_unreachable_step_with_a_class(with_orphan):
    steps = svg_steps(render_svg(build_graph(with_orphan)))
    assert "unreachable" in steps["orphan"].get("class").split()
    assert [name for name, g in steps.items() if "unreachable" in g.get("class")] == ["orphan"]
    assert steps["done"].get("class").split() == ["step", "terminal"]
    assert "start" in steps["ask"].get("class").split()


def test_svg_draws_every_edge_with_its_label(shipped):
    graph = build_graph(shipped["sign-in"])
    root = ET.fromstring(render_svg(graph))  # noqa: S314
    drawn = [(g.get("data-source"), g.get("data-target"), g.find(f"{SVG}text").text)
             for g in root.iter(f"{SVG}g") if g.get("class") == "edge"]
    assert drawn == [(e.source, e.target, e.label) for e in graph.edges]
    assert all(g.find(f"{SVG}path").get("marker-end") == "url(#journey-diagram-sign-in-arrow)"
               for g in root.iter(f"{SVG}g") if g.get("class") == "edge")


def test_svg_view_box_holds_every_step(shipped):
    root = ET.fromstring(render_svg(build_graph(shipped["sign-in"])))  # noqa: S314
    left, top, width, height = map(float, root.get("viewBox").split())
    for rect in root.iter(f"{SVG}rect"):
        x, y = float(rect.get("x")), float(rect.get("y"))
        assert left <= x and x + float(rect.get("width")) <= left + width
        assert top <= y and y + float(rect.get("height")) <= top + height


def test_svg_escapes_names_from_the_configuration():
    name = HOSTILE + "\x01"
    journey = parsed(**{name: {"type": "notice", "title": "t", "on": {"continue": "go"}},
                        "go": {"type": "switch", "journey": "</svg><script>"}})
    svg = render_svg(build_graph(journey), element_id="d1")
    assert "<script>" not in svg and "<b>" not in svg
    steps = svg_steps(svg)
    assert set(steps) == {HOSTILE + "\ufffd", "go"}, "a character XML cannot hold is replaced"
    written = [t.text for t in steps["go"].iter(f"{SVG}text")]
    assert written == ["go (switch)", "\u2192 journey </svg><script>"]
    assert 'id="d1-arrow"' in svg and 'aria-labelledby="d1-title"' in svg


def test_svg_layers_follow_breadth_first_depth(with_orphan):
    boxes = diagram_svg.layout(build_graph(with_orphan))
    assert [boxes[name].row for name in ("ask", "send", "done", "orphan")] == [0, 1, 2, 3]
    assert boxes["orphan"].y > boxes["done"].bottom, "unreachable steps get the last row"


def test_the_command_rewrites_a_stale_section(tmp_path, monkeypatch, capsys):
    page = tmp_path / "docs" / "journeys.md"
    page.parent.mkdir()
    page.write_text(f"# Journeys\n\n{diagram.BEGIN}\nold\n{diagram.END}\n\nProse stays.\n")
    monkeypatch.setattr(diagram, "ROOT", tmp_path)
    monkeypatch.setattr(diagram, "DOCS_FILE", page)
    assert diagram.main([]) == 1
    assert "python -m journeys.diagram --write" in capsys.readouterr().err
    assert diagram.main(["--write"]) == 0
    text = page.read_text()
    assert text.startswith(f"# Journeys\n\n{diagram.BEGIN}\n### Sign in (`sign-in`)\n")
    assert text.endswith(f"```\n{diagram.END}\n\nProse stays.\n") and "\nold\n" not in text
    assert "```mermaid\nflowchart TD\n" in text
    assert diagram.main(["--check"]) == 0


def test_the_command_says_when_the_markers_are_missing(tmp_path, monkeypatch, capsys):
    page = tmp_path / "journeys.md"
    page.write_text("# Journeys\n")
    monkeypatch.setattr(diagram, "ROOT", tmp_path)
    monkeypatch.setattr(diagram, "DOCS_FILE", page)
    assert diagram.main(["--write"]) == 2
    assert "markers <!-- diagrams:begin -->" in capsys.readouterr().err
    assert page.read_text() == "# Journeys\n"


@pytest.mark.parametrize("module", [diagram, diagram_svg], ids=lambda m: m.__name__)
def test_the_docstring_examples_hold(module):
    failed, tried = doctest.testmod(module)
    assert tried and not failed
