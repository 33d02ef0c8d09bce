"""Portal section: journeys, the dry run. The operator gives a sample identifier and password
and a connector, or picks outcomes by hand for the steps that need a browser; the page shows
each step's outcome, why, and the path on the diagram. Nothing is created or changed: no user
is provisioned and no session started (:mod:`blueprints.admin.journeys_walk`). A POST, since a
sample password never travels in a URL; only an admin may run one that asks a connector.
"""

from __future__ import annotations

from xml.etree import ElementTree as ET  # nosec B405 # parses the SVG this process just rendered

from flask import abort, render_template, request
from markupsafe import Markup

import connectors
from blueprints.admin.base import audit_change, bp
from blueprints.admin.journeys_walk import Sample, Walk, walk
from connectors import PasswordConnector
from journeys import engine
from journeys.diagram import build_graph
from journeys.diagram_svg import render_svg
from operators.sessions import require

SVG = "http://www.w3.org/2000/svg"
PATH_COLOUR = "#1f4fbf"
ET.register_namespace("", SVG)


def _tag(name: str) -> str:
    return f"{{{SVG}}}{name}"


def path_svg(journey, result: Walk) -> Markup:
    """The journey's diagram with the walked steps numbered and their arrows drawn heavy."""
    svg = ET.fromstring(render_svg(build_graph(journey), element_id=f"dry-run-{journey.name}"))  # noqa: S314  # nosec B314
    order = {}
    for visit in result.visits:
        order.setdefault(visit.step, len(order) + 1)
    taken = set(result.path)
    for group in svg.iter(_tag("g")):
        classes = group.get("class", "").split()
        if "step" in classes and group.get("data-step") in order:
            _mark_step(group, order[group.get("data-step")])
        elif "edge" in classes and (group.get("data-source"), group.get("data-target")) in taken:
            group.set("class", " ".join([*classes, "walked"]))
            for path in group.iter(_tag("path")):
                path.set("stroke", PATH_COLOUR)
                path.set("stroke-width", "2.2")
    return Markup(ET.tostring(svg, encoding="unicode"))  # noqa: S704  # nosec B704 (ElementTree escapes)


def _mark_step(group, number: int) -> None:
    group.set("class", group.get("class", "") + " walked")
    rect = group.find(_tag("rect"))
    title = group.find(_tag("title"))
    if title is not None:
        title.text = f"{number}. {title.text}"
    if rect is None:
        return
    rect.set("stroke", PATH_COLOUR)
    rect.set("stroke-width", "3.5")
    x, y = float(rect.get("x", 0)), float(rect.get("y", 0))
    ET.SubElement(group, _tag("circle"), {"cx": f"{x:.1f}", "cy": f"{y:.1f}", "r": "10",
                                          "fill": PATH_COLOUR})
    label = ET.SubElement(group, _tag("text"), {
        "x": f"{x:.1f}", "y": f"{y + 4:.1f}", "text-anchor": "middle", "font-size": "11",
        "font-weight": "700", "fill": "#ffffff"})
    label.text = str(number)


def _sample(journey) -> Sample:
    chosen = {}
    for step in journey.steps:
        value = request.form.get(f"choose.{step}", "")
        if value:
            chosen[step] = value
    return Sample(identifier=request.form.get("identifier", "").strip()[:320],
                  password=request.form.get("password", "")[:1024],
                  connector=request.form.get("connector", ""), chosen=chosen)


@bp.route("/journeys/<name>/dry-run", methods=["GET", "POST"])
@require()
def journey_dry_run(name: str):
    """Walk the journey with sample inputs and outcomes picked by hand; nothing is created."""
    journey = engine().journeys.get(name)
    if journey is None:
        abort(404)
    sample = _sample(journey) if request.method == "POST" else Sample()
    result = walk(journey, sample)
    if result.asked:
        audit_change("journey.dry_run", journey=name, connectors=result.asked)
    password_connectors = sorted(connector for connector, built in connectors.instances().items()
                                 if isinstance(built, PasswordConnector))
    return render_template(
        "admin/journey_dry_run.html", name=name, journey=journey, result=result, sample=sample,
        diagram=path_svg(journey, result), connectors=password_connectors,
        ran=request.method == "POST")
