"""The npm ``axe-core`` package: the accessibility engine the browser tests run in Ferry's pages.

:func:`ensure_installed` installs the package into this folder on first use (``npm ci`` from the
committed lock file, ~1 s, when ``node_modules`` is missing) and returns ``axe.min.js``;
:func:`violations` injects it into a Playwright page and runs it::

    found = violations(page)          # [] when axe finds nothing to complain about
    assert not found, describe(found)

Behaviour worth knowing (axe-core 4):

* The rules run are those tagged :data:`TAGS`: WCAG 2.0 and 2.1, levels A and AA, and axe's
  best practices (landmarks, one ``h1``, skip links...). "Incomplete" results (contrast over a
  background image, say) are not violations and are not reported.
* The script is added as a ``<script>`` element; Ferry's CSP allows only its own scripts, so the
  browser context must be made with ``bypass_csp=True`` (the pages themselves are unchanged).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.peers import npm

if TYPE_CHECKING:
    from playwright.sync_api import Page

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice")

# Runs in the page: axe's full answer is large, so only what a failure message needs comes back.
_RUN = """async (tags) => {
  const results = await axe.run(document, {runOnly: {type: "tag", values: tags}});
  return results.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => ({target: n.target.join(" "), html: n.html, summary: n.failureSummary})),
  }));
}"""


class AxeError(RuntimeError):
    """axe-core could not be installed (the message has npm's output)."""


def ensure_installed() -> Path:
    """``npm ci`` into this folder when the package is missing (:mod:`tests.peers.npm`)."""
    npm.ensure_installed(HERE, SCRIPT, AxeError)
    return SCRIPT


def violations(page: Page, tags: tuple[str, ...] = TAGS) -> list[dict[str, Any]]:
    """axe's violations of the page as it is now (the script is injected once per document)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(ensure_installed()))
    return page.evaluate(_RUN, list(tags))


def describe(found: list[dict[str, Any]]) -> str:
    """A readable report: each rule broken, and where."""
    lines = []
    for violation in found:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            lines.append(f"    at {node['target']}: {node['html'][:160]}")
            lines.extend(f"      {line}" for line in (node["summary"] or "").splitlines())
    return "\n".join(lines)
