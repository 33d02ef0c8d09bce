"""Fixtures of the ``cognito`` connector's tests: moto's server on loopback (``cognito``) with a
pool of users in every state (``pool``), the connector and Ferry for it, and the scripted pool
(``scripted``) answering like a healthy one."""

from __future__ import annotations

import pytest

from tests.conftest import deployment
from tests.connectors.cognito.moto_pool import (
    ALICE,
    BOB,
    DAVE,
    FRED,
    PASSWORDS,
    SAM,
    TINA,
    UMA,
    cognito_connector,
)
from tests.connectors.cognito.scripted_pool import TOKENS, USER, by_operation
from tests.connectors.contract import (
    build_connector,
)
from tests.peers.cognito import MotoCognito, Pool


@pytest.fixture(scope="session")
def cognito():
    with MotoCognito() as server:
        yield server


@pytest.fixture(scope="session")
def pool(cognito) -> Pool:
    pool = cognito.pool(Schema=[{"Name": "employee_id", "AttributeDataType": "String",
                                 "Mutable": True}])
    pool.user(ALICE, PASSWORDS[ALICE], email="Alice@Example.com", given_name="Alice",
              family_name="Liddell", **{"custom:employee_id": "E-42"})
    pool.user(BOB, PASSWORDS[BOB], given_name="Bob")
    pool.disabled_user(DAVE, PASSWORDS[DAVE])
    pool.user(FRED, PASSWORDS[FRED], permanent=False)
    pool.unconfirmed_user(UMA, PASSWORDS[UMA])
    pool.totp_user(TINA, PASSWORDS[TINA], given_name="Tina")
    pool.sms_user(SAM, PASSWORDS[SAM])
    return pool


@pytest.fixture
def connector(app, cognito, pool):
    return build_connector(app, cognito_connector(cognito, pool))


@pytest.fixture
def ferry(make_app, cognito, pool):
    return make_app(DEPLOYMENT=deployment({"legacy": cognito_connector(cognito, pool)}),
                    FAILED_SIGNINS_PER_IDENTIFIER="2 per 15 minutes")


# -- a scripted pool: what moto cannot be made to do ----------------------------------------
@pytest.fixture
def scripted(scripted_idp):
    """The scripted pool answering like a healthy one; a test then breaks one part."""
    scripted_idp.replies = {"InitiateAuth": TOKENS, "GetUser": USER}  # tests change them
    scripted_idp.routes["/"] = by_operation(scripted_idp.replies)
    return scripted_idp
