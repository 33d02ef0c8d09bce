"""The ``ldap`` connector against slapd: lookup without a password, settings checked at
start-up, and whole sign-ins through Ferry that migrate a directory user.
"""

from __future__ import annotations

import pytest

from connectors import AccountBlocked, InvalidCredentials, LegacyUnavailable
from settings.errors import ConfigError
from tests.accounts import count_users
from tests.conftest import SignIn, deployment
from tests.connectors.conftest import (
    UNAVAILABLE,
    WRONG_CREDENTIALS,
    page_text,
    retry_after,
    sign_in_attempts,
)
from tests.connectors.contract import build_connector
from tests.connectors.ldap.conftest import (
    ALICE,
    CAROL,
    DISABLED,
    ERIN,
    EXPIRED,
    GINA,
    LOCKED,
    MUST_CHANGE,
    RESET,
    TWIN,
    connector_for,
    ldap_table,
    migrated,
)
from tests.peers.slapd import MAX_FAILURES, Slapd


# -- lookup: the profile without a password ---------------------------------------------------
def test_lookup_finds_the_same_identity_without_a_password(app, slapd):
    connector = connector_for(app, slapd, disabled_filter="(employeeType=inactive)")
    assert connector.supports_lookup

    found = connector.lookup(ALICE)
    assert found == connector.verify(ALICE, slapd.password(ALICE))
    assert connector.lookup("nobody@example.com") is None
    for blocked in (CAROL, ERIN):
        with pytest.raises(AccountBlocked):
            connector.lookup(blocked)
    with pytest.raises(LegacyUnavailable):
        connector.lookup(TWIN)
    with slapd.down(), pytest.raises(LegacyUnavailable):
        connector.lookup(ALICE)


# -- settings ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("settings", "problem"), [
    pytest.param({"url": "http://127.0.0.1:389"}, "ldap:// or ldaps://", id="not-ldap"),
    pytest.param({"url": "ldap://127.0.0.1:389/dc=example"}, "base_dn is a setting", id="url-path"),
    pytest.param({"url": []}, "at least one", id="no-url"),
    pytest.param({"url": "ldaps://127.0.0.1:636"}, "start_tls is for ldap://", id="start-tls-ldaps"),
    pytest.param({"user_filter": "(mail=alice@example.com)"}, "{identifier}", id="no-placeholder"),
    pytest.param({"user_filter": "(&(mail={identifier})"}, "not an LDAP filter", id="bad-filter"),
    pytest.param({"disabled_filter": "employeeType=inactive)"}, "not an LDAP filter",
                 id="bad-disabled-filter"),
    pytest.param({"bind_password": None}, "go together", id="bind-dn-alone"),
    pytest.param({"bind_password": ""}, "go together", id="empty-service-password"),
    pytest.param({"ca_file": "/nonexistent/ca.pem"}, "cannot load CA", id="missing-ca-file"),
    pytest.param({"mapping": {"email": "email"}}, "not in attributes", id="mapping-unread-claim"),
    pytest.param({"referrals": "follow"}, "referrals", id="no-following"),
    pytest.param({"base_dn": None}, "base_dn", id="no-base-dn"),
    pytest.param({"bindpw": "x"}, "unknown setting", id="typo"),
])
def test_settings_are_checked_at_start_up(make_app, slapd, settings, problem):
    with pytest.raises(ConfigError) as invalid:
        make_app(DEPLOYMENT=deployment({"legacy": ldap_table(slapd, **settings)}))
    assert problem in str(invalid.value)


# -- the whole sign-in ------------------------------------------------------------------------
@pytest.fixture
def ferry(make_app, slapd):
    table = ldap_table(slapd, disabled_filter="(employeeType=inactive)")
    return make_app(DEPLOYMENT=deployment({"corp-ldap": table}),
                    FAILED_SIGNINS_PER_IDENTIFIER="2 per 15 minutes")


def test_a_directory_user_migrates_with_the_mapped_profile(ferry, slapd):
    walker = SignIn(ferry.test_client())

    walker.code_from(walker.sign_in(ALICE, slapd.password(ALICE)))

    user, link, credential = migrated(ferry, ALICE)
    assert (user.given_name, user.family_name, user.name, user.locale) == (
        "Alice", "Liddell", "Alice Liddell", "en-GB")
    assert (link.connector, link.subject) == (
        "corp-ldap", slapd.attribute(slapd.dn("alice"), "entryUUID")[0])
    assert credential is not None and slapd.password(ALICE) not in credential.hash
    # From now on Ferry alone signs her in: with the directory hanging, it still works.
    with slapd.frozen():
        again = SignIn(ferry.test_client())
        again.code_from(again.sign_in(ALICE, slapd.password(ALICE)))


@pytest.mark.parametrize(("email", "password", "notice"), [
    pytest.param(ALICE, "not-alices-password", WRONG_CREDENTIALS, id="wrong-password"),
    pytest.param("nobody@example.com", "whatever", WRONG_CREDENTIALS, id="unknown-user"),
    pytest.param(CAROL, None, LOCKED, id="locked-by-administrator"),
    pytest.param(ERIN, None, DISABLED, id="disabled-filter"),
    pytest.param(GINA, None, EXPIRED, id="password-expired"),
    pytest.param(RESET, None, MUST_CHANGE, id="must-change-password"),
    pytest.param(TWIN, None, UNAVAILABLE, id="ambiguous"),
])
def test_a_refused_sign_in_creates_no_user(ferry, slapd, email, password, notice):
    typed = slapd.password(email) if password is None else password
    [answer] = sign_in_attempts(ferry, email, typed, times=1)
    assert answer.status_code == 200 and notice in page_text(answer)
    assert count_users(ferry) == 0


def test_while_the_directory_is_down_users_are_told_to_try_later_and_nothing_is_counted(
        ferry, slapd):
    with slapd.down():
        answers = sign_in_attempts(ferry, ALICE, slapd.password(ALICE), times=3)
    assert all(a.status_code == 200 and UNAVAILABLE in page_text(a) for a in answers)
    assert count_users(ferry) == 0
    assert retry_after(ferry, ALICE) == 0


def test_a_locked_out_legacy_account_shows_the_locked_notice(make_app, slapd):
    # A directory of its own: this test locks its user out for good.
    with Slapd() as directory:
        lockme = "lockme@example.com"
        app = make_app(DEPLOYMENT=deployment({"corp-ldap": ldap_table(directory)}))
        for _attempt in range(MAX_FAILURES):
            with pytest.raises(InvalidCredentials):
                build_connector(app, ldap_table(directory)).verify(lockme, "nope")
        [answer] = sign_in_attempts(app, lockme, directory.password(lockme), times=1)
        assert answer.status_code == 200 and LOCKED in page_text(answer)
        assert count_users(app) == 0

