"""Shared by the ``ldap`` connector's tests: the session's OpenLDAP ``slapd`` on loopback
(:mod:`tests.peers.slapd`), a Ferry to build connectors from, and the directory's people.

Other packages' tests use the ``slapd`` fixture and ``ldap_table`` from here.
"""

from __future__ import annotations

import pytest

from models import LegacyLink, PasswordCredential, User, db
from tests.connectors.conftest import connector_level_app
from tests.connectors.contract import build_connector
from tests.peers.slapd import Slapd

ALICE, BOB = "alice@example.com", "bob@example.com"
CAROL = "carol@example.com"  # locked by the administrator (pwdAccountLockedTime 000001010000Z)
ERIN = "erin@example.com"  # employeeType: inactive
GINA = "gina@example.com"  # password expired
RESET = "reset@example.com"  # password reset by an administrator: must change it
TWIN = "twin@example.com"  # two entries
DISABLED = "Your account is disabled"
LOCKED = "Your account is locked"
EXPIRED = "Your password has expired"
MUST_CHANGE = "You need to choose a new password"


@pytest.fixture(scope="session")
def slapd():
    with Slapd() as directory:
        yield directory


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """One Ferry for this module's connector-level tests (see ``connector_level_app``)."""
    yield from connector_level_app(tmp_path_factory)


def ldap_table(slapd: Slapd, **settings) -> dict:
    table = {"type": "ldap", "url": slapd.url, "start_tls": True, "ca_file": slapd.ca_file,
             "bind_dn": slapd.bind_dn, "bind_password": slapd.bind_password,
             "base_dn": slapd.people_dn, "connect_timeout": 2, "read_timeout": 1, **settings}
    return {key: value for key, value in table.items() if value is not None}


def connector_for(app, slapd: Slapd, **settings):
    return build_connector(app, ldap_table(slapd, **settings))


def migrated(app, email: str) -> tuple[User, LegacyLink, PasswordCredential | None]:
    with app.app_context(), db.connection_context():
        user = User.get(User.email == email)
        return user, LegacyLink.get(LegacyLink.user == user), PasswordCredential.get_or_none(
            PasswordCredential.user == user)


