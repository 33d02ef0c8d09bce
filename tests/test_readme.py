"""The README and docs/ stay true: every setting a user can write is documented there."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors import registry as connector_registry
from journeys.steps import registry as step_registry
from provider.clients import AppSettings
from settings.server import ServerSettings

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()
#: The README and the reference in docs/, read as one text.
DOCS = README + "".join(path.read_text() for path in sorted((ROOT / "docs").glob("*.md")))


@pytest.mark.parametrize("name", list(ServerSettings.model_fields))
def test_server_setting_is_documented(name):
    assert f"| `{name}` | `FERRY_{name.upper()}` |" in README


@pytest.mark.parametrize("name", list(AppSettings.model_fields))
def test_app_setting_is_documented(name):
    assert f"`{name}`" in DOCS


def test_every_connector_type_and_setting_is_documented():
    connector_registry.discover()
    for type_name in connector_registry.types():
        assert f'`type = "{type_name}"`' in README
        for field in connector_registry.get(type_name).Settings.model_fields:
            assert f"`{field}`" in README, f"{type_name}.{field}"


def test_every_step_type_is_documented():
    step_registry.discover()
    for type_name in step_registry.types():
        assert f"| `{type_name}` |" in README
