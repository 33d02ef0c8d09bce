"""Fixtures of the ``okta`` connector's tests: ``okta``, a faithful fake of Okta's documented APIs
(the Authentication API, the Users API and a custom authorization server) on loopback."""

from __future__ import annotations

import pytest

from tests.peers.okta_fake import OktaFake


@pytest.fixture
def okta():
    with OktaFake() as fake:
        yield fake
