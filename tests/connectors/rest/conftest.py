"""Shared by the ``rest`` connector's tests: the real hand-written legacy API on loopback
(:mod:`tests.peers.rest_legacy`), a Ferry to build connectors from, and the connector's tables
for both request shapes.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from tests.connectors.conftest import connector_level_app
from tests.peers.rest_legacy import RestLegacyServer

TOKEN = "legacy-api-token-5f2b9c"
ALICE = "alice@example.com"
PLUGIN = "keycloak-user-migration"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """One Ferry for this module's connector-level tests (see ``connector_level_app``)."""
    yield from connector_level_app(tmp_path_factory)


@pytest.fixture
def legacy():
    with RestLegacyServer(bearer_token=TOKEN) as server:
        yield server


def ferry_table(server: RestLegacyServer, **settings) -> dict:
    table = {"type": "rest", "base_url": server.ferry_url, "bearer_token": TOKEN,
             "connect_timeout": 0.5, "read_timeout": 0.5, **settings}
    return {key: value for key, value in table.items() if value is not None}


def plugin_table(server: RestLegacyServer, **settings) -> dict:
    return ferry_table(server, base_url=server.plugin_url, protocol=PLUGIN, **settings)


def password(server: RestLegacyServer, username: str) -> str:
    return server.accounts[username].password


def outage_of(server: RestLegacyServer):
    @contextmanager
    def outage():
        server.stop()
        try:
            yield
        finally:
            server.start()
    return outage
