"""Fixtures of the ``keycloak`` connector's tests: Ferry (``app``, one per module), the Django OAuth
Toolkit peer under Keycloak's paths (``keycloak``) and a scripted Keycloak (``scripted_keycloak``)."""

from __future__ import annotations

import pytest

from app import create_app
from models import database
from tests.conftest import deployment
from tests.connectors.keycloak.realm import REALM, ScriptedKeycloak
from tests.peers.keycloak_paths import KeycloakPaths


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """One Ferry for this module's connector-level tests: they build connectors from its config
    and never use its database (whole sign-ins build their own with ``make_app``)."""
    yield create_app({"TESTING": True, "SECRET_KEY": "test-secret-key", "ISSUER": "http://localhost",
                      "CONFIG_FILE": None, "DEPLOYMENT": deployment(),
                      "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('ferry')}/ferry.db"})
    database.shutdown()


# -- the real peer: Django OAuth Toolkit under Keycloak's paths ----------------------------------
@pytest.fixture
def keycloak(dot):
    with KeycloakPaths(dot.base_url, realm=REALM) as proxy:
        yield proxy


# -- Keycloak as documented, on a scripted server ------------------------------------------------
@pytest.fixture
def scripted_keycloak(scripted_idp):
    return ScriptedKeycloak(scripted_idp)
