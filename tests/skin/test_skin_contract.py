"""The skin contract of docs/themes.md holds for every shipped theme (default and harbour):
the documented blocks exist, the documented classes appear on the pages, the documented custom
properties are defined, and the sample theme overrides only documented blocks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from jinja2 import Environment, nodes

from tests.skin.conftest import DEMO_THEMES, sign_in_page

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "themes.md").read_text(encoding="utf-8")


def documented(section: str) -> list[str]:
    """Names in backticks in the bullet list under the ``## <section>`` heading of the doc."""
    body = DOC.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^- `([^`]+)`", body, flags=re.M)


def blocks_of(path: Path) -> set[str]:
    env = Environment(autoescape=True, extensions=["jinja2.ext.i18n"])
    tree = env.parse(path.read_text(encoding="utf-8"))
    return {block.name for block in tree.find_all(nodes.Block)}


def test_base_html_has_every_documented_block_and_no_other():
    assert set(documented("Blocks of base.html")) == blocks_of(ROOT / "templates" / "base.html")


def test_every_documented_template_is_shipped():
    for name in documented("Templates"):
        assert (ROOT / "templates" / name).is_file(), name


def test_every_documented_custom_property_is_defined():
    css = (ROOT / "static" / "ferry.css").read_text(encoding="utf-8")
    for prop in documented("Custom properties"):
        assert re.search(rf"{re.escape(prop)}:", css), prop


@pytest.mark.parametrize("template", sorted(p.relative_to(DEMO_THEMES / "harbour" / "templates").as_posix()
                                            for p in (DEMO_THEMES / "harbour" / "templates").rglob("*.html")))
def test_the_sample_theme_overrides_only_documented_blocks(template):
    own = blocks_of(DEMO_THEMES / "harbour" / "templates" / template)
    assert own <= set(documented("Blocks of base.html")), own


@pytest.mark.parametrize("theme", [None, "harbour"])
def test_every_page_in_every_shipped_theme_has_the_documented_classes(themed_app, theme):
    app = themed_app(DEFAULT_THEME=theme or "")  # every page: the app's and the account page
    client = app.test_client()
    pages = {
        "sign-in": sign_in_page(client),
        "wrong password": client.post("/login", data={
            "step": "collect", "identifier": "nobody@example.com", "password": "wrong-password",
            "csrf_token": re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                                    client.get("/login").get_data(as_text=True)).group(1)}),
        "account": client.get("/"),
    }
    classes = documented("CSS classes")
    always = {"ferry", "ferry-skip", "ferry-header", "ferry-brand", "ferry-main", "ferry-card",
              "ferry-title", "ferry-footer"}
    assert always <= set(classes)
    for label, answer in pages.items():
        assert answer.status_code < 500, label
        page = answer.get_data(as_text=True)
        found = set(re.findall(r'class="([^"]+)"', page))
        found = {name for value in found for name in value.split()}
        assert always <= found, (label, always - found)
        ferry_classes = {name for name in found if name.startswith("ferry")}
        assert ferry_classes <= set(classes), (label, ferry_classes - set(classes))
        assert (theme is None) == ("harbour-header" not in page), label
    signin = pages["sign-in"].get_data(as_text=True)
    for name in ("ferry-form", "ferry-field", "ferry-label", "ferry-input", "ferry-button", "ferry-app",
                 "ferry-reveal"):
        assert f'class="{name}' in signin or f" {name}" in signin, name
