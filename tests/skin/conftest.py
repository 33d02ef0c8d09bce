"""Helpers for the skin tests: theme folders written into the test's tmp_path, apps wearing
them, and a browser-like start of an app's sign-in (``/authorize`` answers its first page)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.conftest import APP_REDIRECT, SPA_REDIRECT, deployment, is_sign_in_page, pkce_pair

DEMO_THEMES = Path(__file__).resolve().parents[2] / "demo" / "themes"
REDIRECTS = {"test-app": APP_REDIRECT, "spa": SPA_REDIRECT}


def write_theme(folder: Path, name: str, files: dict[str, str | bytes]) -> Path:
    """``folder/name/templates/...`` and ``static/...`` from ``{"templates/base.html": ...}``."""
    root = folder / name
    (root / "templates").mkdir(parents=True, exist_ok=True)
    (root / "static").mkdir(parents=True, exist_ok=True)
    for path, content in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    return root


@pytest.fixture
def themes_folder(tmp_path) -> Path:
    folder = tmp_path / "themes-extra"
    folder.mkdir()
    return folder


@pytest.fixture
def themed_app(make_app, themes_folder):
    """``themed_app(apps={"test-app": {"theme": "x"}}, branding={...}, journeys={...}, **config)``."""

    def build(apps: dict | None = None, branding: dict | None = None, journeys: dict | None = None,
              **config):
        tables = deployment()
        for client_id, extra in (apps or {}).items():
            tables["apps"][client_id].update(extra)
        if branding is not None:
            tables["branding"] = branding
        if journeys is not None:
            tables["journeys"] = journeys
        config.setdefault("THEME_FOLDERS", [str(themes_folder), str(DEMO_THEMES)])
        return make_app(DEPLOYMENT=tables, **config)

    return build


def sign_in_page(client, client_id: str = "test-app"):
    """Start ``client_id``'s authorization request; its answer is the first sign-in page."""
    _verifier, challenge = pkce_pair()
    query = urlencode({"client_id": client_id, "redirect_uri": REDIRECTS[client_id],
                       "response_type": "code", "scope": "openid", "state": "s",
                       "code_challenge": challenge, "code_challenge_method": "S256"})
    started = client.get(f"/authorize?{query}")
    assert started.status_code == 200 and is_sign_in_page(started), started.get_data(as_text=True)
    return started
