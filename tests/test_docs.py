"""The README and docs/ stay true: every setting a user can write is documented, the generated
settings tables are current, the README stays a short guide, and no relative link is broken."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connectors import registry as connector_registry
from journeys import diagram
from journeys.steps import registry as step_registry
from provider.app_settings import AppSettings
from settings import reference
from settings.server import ServerSettings

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
#: The README and the reference in docs/, read as one text.
DOCS = "".join(page.read_text() for page in PAGES)
README_MAX_LINES = 250

# [text](target): the target up to a space or the closing bracket; images too.
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)


@pytest.mark.parametrize("name", list(ServerSettings.model_fields))
def test_server_setting_is_documented(name):
    assert f"| `{name}` | `FERRY_{name.upper()}` |" in DOCS


@pytest.mark.parametrize("name", list(AppSettings.model_fields))
def test_app_setting_is_documented(name):
    assert f"| `{name}` |" in DOCS


def test_every_connector_type_and_setting_is_documented():
    connector_registry.discover()
    for type_name in connector_registry.types():
        assert f'`type = "{type_name}"`' in DOCS
        for field in connector_registry.get(type_name).Settings.model_fields:
            assert f"`{field}`" in DOCS, f"{type_name}.{field}"


def test_every_step_type_is_documented():
    step_registry.discover()
    for type_name in step_registry.types():
        assert f"| `{type_name}` |" in DOCS


@pytest.mark.parametrize("block", reference.BLOCKS, ids=lambda block: block.path.name)
def test_generated_settings_table_is_current(block):
    text = block.path.read_text()
    assert reference.rewrite(text, block) == text, (
        f"{block.path.relative_to(ROOT)}: the settings table is out of date; "
        "run `python -m settings.reference --write`")


@pytest.mark.parametrize("block", reference.BLOCKS, ids=lambda block: block.path.name)
def test_a_stale_table_is_noticed(block, tmp_path):
    text = block.path.read_text()
    start = text.index(block.begin) + len(block.begin)
    emptied = text[:start] + "\n" + text[text.index(block.end):]
    assert reference.rewrite(emptied, block) == text
    stale = tmp_path / block.path.name
    stale.write_text(emptied)
    moved = reference.Block(block.model, stale, block.marker, block.environment)
    assert reference.stale_blocks((moved,)) == [moved]


def test_journey_diagrams_are_current():
    text = diagram.DOCS_FILE.read_text()
    assert diagram.rewrite(text) == text, (
        f"{diagram.DOCS_FILE.relative_to(ROOT)}: the journey diagrams are out of date; "
        "run `python -m journeys.diagram --write`")


def test_stale_journey_diagrams_are_noticed(tmp_path):
    text = diagram.DOCS_FILE.read_text()
    start = text.index(diagram.BEGIN) + len(diagram.BEGIN)
    emptied = text[:start] + "\n" + text[text.index(diagram.END):]
    assert diagram.rewrite(emptied) == diagram.rewrite(text)
    stale = tmp_path / diagram.DOCS_FILE.name
    stale.write_text(emptied)
    assert diagram.is_stale(stale)


def test_cells_stay_one_cell_on_one_line():
    assert reference._cell("a | b\n  c") == "a \\| b c"


def test_defaults_read_as_people_write_them():
    def server(name):
        return reference.default_text(ServerSettings, name, ServerSettings.model_fields[name])

    def app(name):
        return reference.default_text(AppSettings, name, AppSettings.model_fields[name])

    assert server("secret_key").startswith("random")
    assert server("smtp_username") == "empty"
    assert server("migrate_on_start") == "`true`"
    assert server("journey_ttl") == "`900` (15 minutes)"
    assert app("redirect_uris") == "required"
    assert app("jwks") == "none"


def test_readme_is_a_short_guide():
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move reference to docs/"


def _slug(heading: str) -> str:
    # GitHub's anchors: lower case, punctuation dropped, spaces to hyphens.
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    body = _FENCE.sub("", page.read_text())
    return {_slug(line.lstrip("#")) for line in body.splitlines() if re.match(r"#{1,6} ", line)}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_point_at_files_that_exist(page):
    body = _FENCE.sub("", page.read_text())
    broken = []
    for target in _LINK.findall(body):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(target)
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)}: broken links {broken}"
