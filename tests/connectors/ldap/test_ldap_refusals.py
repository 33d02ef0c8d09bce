"""The ``ldap`` connector against slapd: accounts that cannot sign in (locked, disabled, expired,
reset: the ``ppolicy`` overlay) and a directory that cannot answer properly (ambiguous,
referrals, hangs, TLS failures, replicas).
"""

from __future__ import annotations

import pytest

from connectors import AccountBlocked, InvalidCredentials, LegacyUnavailable, UserNotFound
from settings.errors import ConfigError
from tests.connectors.ldap.conftest import (
    ALICE,
    CAROL,
    ERIN,
    GINA,
    RESET,
    TWIN,
    connector_for,
)
from tests.connectors.scripted_idp import closed_port_url
from tests.peers.slapd import MAX_FAILURES


# -- accounts that cannot sign in -------------------------------------------------------------
@pytest.mark.parametrize("password", ["right", "wrong"])
def test_an_account_locked_by_the_administrator_is_refused_by_the_directory(
        app, slapd, password):
    # slapd's ppolicy answers accountLocked to any bind of a locked entry: the directory's own
    # answer, which Ferry passes on as "locked".
    typed = slapd.password(CAROL) if password == "right" else "not-carols"
    with pytest.raises(AccountBlocked) as blocked:
        connector_for(app, slapd).verify(CAROL, typed)
    assert blocked.value.reason == "locked"


def test_the_disabled_filter_marks_disabled_accounts(app, slapd):
    # Without the filter, erin is a user like any other: the filter is what blocks her.
    assert connector_for(app, slapd).verify(ERIN, slapd.password(ERIN)).claims["uid"] == "erin"

    connector = connector_for(app, slapd, disabled_filter="(employeeType=inactive)")
    with pytest.raises(AccountBlocked) as blocked:
        connector.verify(ERIN, slapd.password(ERIN))
    assert blocked.value.reason == "disabled"
    # Without her password nobody learns that the account exists and is disabled.
    with pytest.raises(InvalidCredentials) as wrong:
        connector.verify(ERIN, "not-erins")
    assert not isinstance(wrong.value, AccountBlocked)
    assert connector.verify(ALICE, slapd.password(ALICE)).claims["uid"] == "alice"


def test_an_account_the_password_policy_locked_out_is_locked(app, slapd):
    lockme = "lockme@example.com"
    connector = connector_for(app, slapd)
    assert connector.verify(lockme, slapd.password(lockme))
    for _attempt in range(MAX_FAILURES):
        with pytest.raises(InvalidCredentials):
            connector.verify(lockme, "not-her-password")
    assert slapd.attribute(slapd.dn("lockme"), "pwdAccountLockedTime")  # slapd locked her

    with pytest.raises(AccountBlocked) as blocked:
        connector.verify(lockme, slapd.password(lockme))
    assert blocked.value.reason == "locked"


@pytest.mark.parametrize(("email", "reason"), [
    pytest.param(GINA, "password_expired", id="expired"),
    pytest.param(RESET, "password_change_required", id="reset-by-administrator"),
])
def test_the_password_policy_answer_tells_why_an_account_cannot_sign_in(app, slapd, email, reason):
    with pytest.raises(AccountBlocked) as blocked:
        connector_for(app, slapd).verify(email, slapd.password(email))
    assert blocked.value.reason == reason


def test_without_the_password_policy_control_the_directory_says_only_yes_or_no(app, slapd):
    connector = connector_for(app, slapd, password_policy=False)
    with pytest.raises(InvalidCredentials) as expired:
        connector.verify(GINA, slapd.password(GINA))
    assert type(expired.value) is InvalidCredentials
    assert connector.verify(RESET, slapd.password(RESET)).claims["uid"] == "reset"


# -- a directory that cannot answer properly ----------------------------------------------------
def test_two_entries_for_one_identifier_is_a_misconfiguration_not_a_choice(app, slapd):
    with pytest.raises(LegacyUnavailable) as ambiguous:
        connector_for(app, slapd).verify(TWIN, slapd.password(TWIN))
    assert "more than one entry" in ambiguous.value.reason


def test_a_filter_that_matches_everybody_is_a_misconfiguration(app, slapd):
    connector = connector_for(app, slapd, user_filter="(|(mail={identifier})(objectClass=person))")
    with pytest.raises(LegacyUnavailable) as ambiguous:  # slapd stops at the size limit
        connector.verify(ALICE, slapd.password(ALICE))
    assert "more than one entry" in ambiguous.value.reason


def test_a_referral_in_the_searched_tree_is_unavailable_unless_ignored(app, slapd):
    whole_tree = connector_for(app, slapd, base_dn=slapd.base_dn)
    with pytest.raises(LegacyUnavailable) as referred:
        whole_tree.verify(ALICE, slapd.password(ALICE))
    assert slapd.referral_url in referred.value.reason

    ignoring = connector_for(app, slapd, base_dn=slapd.base_dn, referrals="ignore")
    assert ignoring.verify(ALICE, slapd.password(ALICE)).claims["uid"] == "alice"
    with pytest.raises(UserNotFound):
        ignoring.verify("nobody@example.com", "whatever")


def test_a_base_dn_the_directory_refers_elsewhere_is_never_followed(app, slapd):
    base = f"ou=staff,ou=partners,{slapd.base_dn}"
    for referrals in ("unavailable", "ignore"):
        with pytest.raises(LegacyUnavailable) as referred:
            connector_for(app, slapd, base_dn=base, referrals=referrals).verify(
                ALICE, slapd.password(ALICE))
        assert "elsewhere.example" in referred.value.reason


def test_a_base_dn_that_does_not_exist_is_unavailable(app, slapd):
    with pytest.raises(LegacyUnavailable) as missing:
        connector_for(app, slapd, base_dn=f"ou=nobody,{slapd.base_dn}").verify(
            ALICE, slapd.password(ALICE))
    assert "does not exist" in missing.value.reason


def test_a_wrong_service_password_is_ferrys_fault_not_the_users(app, slapd):
    with pytest.raises(LegacyUnavailable) as refused:
        connector_for(app, slapd, bind_password="not-the-service-password").verify(
            ALICE, slapd.password(ALICE))
    assert "service account" in refused.value.reason and "invalidCredentials" in refused.value.reason


@pytest.mark.parametrize("transport", ["start_tls", "ldaps"])
def test_a_server_that_hangs_times_out(app, slapd, transport):
    settings = {"url": slapd.ldaps_url, "start_tls": False} if transport == "ldaps" else {}
    connector = connector_for(app, slapd, **settings)
    with slapd.frozen(), pytest.raises(LegacyUnavailable) as hung:
        connector.verify(ALICE, slapd.password(ALICE))
    assert "timed out" in hung.value.reason


@pytest.mark.parametrize("transport", ["start_tls", "ldaps"])
def test_a_certificate_from_another_ca_is_a_tls_failure(app, slapd, transport):
    settings = {"url": slapd.ldaps_url, "start_tls": False} if transport == "ldaps" else {}
    untrusting = connector_for(app, slapd, ca_file=slapd.other_ca_file, **settings)
    with pytest.raises(LegacyUnavailable) as failed:
        untrusting.verify(ALICE, slapd.password(ALICE))
    assert "CERTIFICATE_VERIFY_FAILED" in failed.value.reason

    # tls_verify = false takes any certificate (a test set-up, never production).
    careless = connector_for(app, slapd, ca_file=slapd.other_ca_file, tls_verify=False, **settings)
    assert careless.verify(ALICE, slapd.password(ALICE)).claims["uid"] == "alice"


def test_the_host_name_must_match_the_certificate(app, slapd):
    # The certificate is for 127.0.0.1 only; "localhost" reaches the same server.
    by_name = slapd.ldaps_url.replace("127.0.0.1", "localhost")
    with pytest.raises(LegacyUnavailable) as mismatch:
        connector_for(app, slapd, url=by_name, start_tls=False).verify(ALICE, slapd.password(ALICE))
    assert "Hostname mismatch" in mismatch.value.reason
    careless = connector_for(app, slapd, url=by_name, start_tls=False, tls_verify=False)
    assert careless.verify(ALICE, slapd.password(ALICE)).claims["uid"] == "alice"


def test_replicas_are_tried_in_order(app, slapd):
    dead = closed_port_url("").replace("http://", "ldap://")
    connector = connector_for(app, slapd, url=[dead, slapd.url])
    assert connector.verify(ALICE, slapd.password(ALICE)).claims["uid"] == "alice"

    with slapd.down(), pytest.raises(LegacyUnavailable) as all_down:
        connector.verify(ALICE, slapd.password(ALICE))
    assert dead in all_down.value.reason and slapd.url in all_down.value.reason


def test_plain_ldap_needs_to_be_allowed_explicitly(app, slapd):
    with pytest.raises(ConfigError) as refused:
        connector_for(app, slapd, start_tls=False)
    assert "clear text" in str(refused.value)
    plain = connector_for(app, slapd, start_tls=False, allow_plaintext=True)
    assert plain.verify(ALICE, slapd.password(ALICE)).claims["uid"] == "alice"


