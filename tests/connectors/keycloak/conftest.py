"""Fixtures of the ``keycloak`` connector's tests: Ferry (``app``, one per module), the Django OAuth
Toolkit peer under Keycloak's paths (``keycloak``) and a scripted Keycloak (``scripted_keycloak``)."""

from __future__ import annotations

import pytest

from tests.connectors.conftest import connector_level_app
from tests.connectors.keycloak.realm import REALM, ScriptedKeycloak
from tests.peers.keycloak_paths import KeycloakPaths


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """One Ferry for this module's connector-level tests (see ``connector_level_app``)."""
    yield from connector_level_app(tmp_path_factory)


# -- the real peer: Django OAuth Toolkit under Keycloak's paths ----------------------------------
@pytest.fixture
def keycloak(dot):
    with KeycloakPaths(dot.base_url, realm=REALM) as proxy:
        yield proxy


# -- Keycloak as documented, on a scripted server ------------------------------------------------
@pytest.fixture
def scripted_keycloak(scripted_idp):
    return ScriptedKeycloak(scripted_idp)
