"""Fixtures of the ``oidc`` connector's tests: the real legacy IdP (the npm ``oidc-provider`` in
``tests/peers/oidc_provider``, one process for the session) and a scripted provider
(``tests/peers/oidc_scripted.py``) whose token endpoint serves ID tokens crafted per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.connectors.oidc.flow import ACCOUNTS
from tests.peers.oidc_provider import OidcProviderPeer
from tests.peers.oidc_scripted import ScriptedOidcProvider


# -- peers and Ferry ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProviderPeer]:
    """The real legacy IdP (npm oidc-provider), one process for the session."""
    with OidcProviderPeer(ACCOUNTS) as peer:
        yield peer


@pytest.fixture
def scripted() -> Iterator[ScriptedOidcProvider]:
    with ScriptedOidcProvider() as idp:
        yield idp
