"""Shared by the ``auth0`` connector's tests: the faithful fake of Auth0's Authentication API
(:mod:`tests.peers.auth0_fake`; Auth0 cannot run here), the connector's table, and its users."""

from __future__ import annotations

import time

import pytest

from tests.conftest import deployment
from tests.peers.auth0_fake import Auth0Fake

ALICE, ALICE_PASSWORD = "alice@example.com", "wonderland-1865"
MALLORY, MALLORY_PASSWORD = "mallory@example.com", "second-factor-7"  # has an authenticator app
USER_IP, ATTACKER_IP = "203.0.113.7", "198.51.100.66"
LOCKED_NOTICE = "Your account is locked in our old sign-in system"


@pytest.fixture
def auth0():
    with Auth0Fake() as fake:
        yield fake


def auth0_table(fake: Auth0Fake, **settings) -> dict:
    table = {"type": "auth0", "base_url": fake.base_url, "client_id": fake.client.client_id,
             "client_secret": fake.client.client_secret, "connect_timeout": 0.5,
             "read_timeout": 0.5, **settings}
    return {key: value for key, value in table.items() if value is not None}


def ferry(make_app, fake: Auth0Fake, **settings):
    return make_app(DEPLOYMENT=deployment({"corp-auth0": auth0_table(fake, **settings)}),
                    FAILED_SIGNINS_PER_IDENTIFIER="5 per 15 minutes")


def other_code(fake: Auth0Fake, email: str) -> str:
    """A code that is certainly wrong now (not the code of this, the last or the next step)."""
    now = time.time()
    valid = {fake.code(email, at) for at in (now - 30, now, now + 30)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)

