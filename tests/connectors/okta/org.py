"""The users of the ``okta`` connector's tests (as :class:`OktaFake` in ``tests/peers/okta_fake.py``
knows them, each with the state it stands for), the notices Ferry shows them, the connector
settings in the authn and ropc modes, and an authn answer asking for a TOTP factor at a given
verify link."""

from __future__ import annotations

from tests.connectors.scripted_idp import Reply, ScriptedIdp
from tests.peers.okta_fake import OktaFake

ALICE, ALICE_PASSWORD = "alice@example.com", "wonderland-1865"
HATTER, HATTER_PASSWORD = "hatter@example.com", "tea-party-1865"  # TOTP (and push) factors
QUEEN, QUEEN_PASSWORD = "queen@example.com", "off-with-1865"  # an SMS factor
CHESHIRE, CHESHIRE_PASSWORD = "cheshire@example.com", "grin-only-1871"  # push and WebAuthn only
LORINA, LORINA_PASSWORD = "lorina@example.com", "locked-door-1852"  # LOCKED_OUT
EDITH, EDITH_PASSWORD = "edith@example.com", "expired-tea-1854"  # PASSWORD_EXPIRED
GRYPHON, GRYPHON_PASSWORD = "gryphon@example.com", "mock-turtle-1865"  # deactivated
LOCKED_NOTICE = "Your account is locked in our old sign-in system"
RESET_NOTICE = "You need to choose a new password before you can sign in"


def okta_table(fake: OktaFake | ScriptedIdp, **settings) -> dict:
    url = fake.url if isinstance(fake, OktaFake) else fake.base_url
    return {"type": "okta", "org_url": url, "connect_timeout": 1, "read_timeout": 2, **settings}


def ropc_table(fake: OktaFake, **settings) -> dict:
    return okta_table(fake, **{"mode": "ropc", "client_id": fake.client_id,
                               "client_secret": fake.client_secret, **settings})


# -- the second factor ---------------------------------------------------------------------------
def mfa_answer(verify_href: str) -> Reply:
    return Reply(200, {"stateToken": "00state", "status": "MFA_REQUIRED", "_embedded": {
        "user": {"id": "00umfa", "profile": {"login": HATTER}},
        "factors": [{"id": "ostf1", "factorType": "token:software:totp", "provider": "GOOGLE",
                     "_links": {"verify": {"href": verify_href}}}]}})
