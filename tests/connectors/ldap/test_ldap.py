"""The ``ldap`` connector against a real OpenLDAP ``slapd`` on loopback (:mod:`tests.peers.slapd`).

Everything here talks to slapd itself: StartTLS and LDAPS with a CA made by the tests, the
``ppolicy`` overlay's lock-out, expiry and reset, a referral, an ambiguous directory, access
rules that hide an attribute, a server that is down or hangs (SIGSTOP).

Here: the contract every password connector meets, who the user is, and how passwords reach
the directory.
"""

from __future__ import annotations

import pytest

from connectors import InvalidCredentials, LegacyUnavailable, UserNotFound
from tests.connectors.contract import ContractCase, PasswordConnectorContract
from tests.connectors.ldap.conftest import (
    ALICE,
    BOB,
    connector_for,
)


class TestLdapContract(PasswordConnectorContract):
    """Over ``ldap://`` with StartTLS."""

    @pytest.fixture
    def contract_case(self, app, slapd):
        return ContractCase(
            connector=connector_for(app, slapd), identifier=ALICE, password=slapd.password(ALICE),
            wrong_password=slapd.password(ALICE) + "x", unknown_identifier="nobody@example.com",
            expected_email=ALICE, outage=slapd.down, secrets=(slapd.bind_password,),
        )


class TestLdapsContract(TestLdapContract):
    """Over ``ldaps://``."""

    @pytest.fixture
    def contract_case(self, app, slapd):
        return ContractCase(
            connector=connector_for(app, slapd, url=slapd.ldaps_url, start_tls=False),
            identifier=ALICE, password=slapd.password(ALICE),
            wrong_password=slapd.password(ALICE) + "x", unknown_identifier="nobody@example.com",
            expected_email=ALICE, outage=slapd.frozen, secrets=(slapd.bind_password,),
        )



# -- who the user is --------------------------------------------------------------------------
def test_the_subject_is_the_entry_uuid_and_the_claims_are_the_attributes_read(app, slapd):
    identity = connector_for(app, slapd).verify(ALICE, slapd.password(ALICE))

    [entry_uuid] = slapd.attribute(slapd.dn("alice"), "entryUUID")
    assert identity.subject == entry_uuid
    assert identity.claims == {
        "dn": slapd.dn("alice"), "mail": ALICE, "givenName": "Alice", "sn": "Liddell",
        "cn": "Alice Liddell", "uid": "alice", "preferredLanguage": "en-GB",
    }  # her uidNumber, objectClass... are not asked for, so not read
    bob = connector_for(app, slapd).verify(BOB, slapd.password(BOB))
    assert bob.subject == slapd.attribute(slapd.dn("bob"), "entryUUID")[0] != identity.subject


def test_multi_valued_attributes_give_their_first_value_unless_listed(app, slapd):
    attributes = ["mail", "telephoneNumber", "cn"]
    plain = connector_for(app, slapd, attributes=attributes, mapping={"email": "mail"})
    listed = connector_for(app, slapd, attributes=attributes, mapping={"email": "mail"},
                           list_attributes=["telephoneNumber", "mail"])

    assert plain.verify(BOB, slapd.password(BOB)).claims == {
        "dn": slapd.dn("bob"), "mail": BOB, "telephoneNumber": "+44 20 7946 0001",
        "cn": "Bob Builder"}
    assert listed.verify(BOB, slapd.password(BOB)).claims == {
        "dn": slapd.dn("bob"), "mail": [BOB, "robert@example.com"],
        "telephoneNumber": ["+44 20 7946 0001", "+44 20 7946 0002"], "cn": "Bob Builder"}
    # His second address finds him too, and he is the same legacy user.
    assert (plain.verify("robert@example.com", slapd.password(BOB)).subject
            == plain.verify(BOB, slapd.password(BOB)).subject)


def test_the_subject_attribute_is_configurable(app, slapd):
    connector = connector_for(app, slapd, subject_attribute="uidNumber",
                              attributes=["mail", "uidNumber"], mapping={"email": "mail"})
    identity = connector.verify(ALICE, slapd.password(ALICE))
    assert identity.subject == "1865" and identity.claims["uidNumber"] == "1865"


def test_an_entry_whose_subject_ferry_may_not_read_is_unavailable_unless_the_dn_may_stand_in(
        app, slapd):
    nouuid = "nouuid@example.com"
    with pytest.raises(LegacyUnavailable) as hidden:
        connector_for(app, slapd).verify(nouuid, slapd.password(nouuid))
    assert "entryUUID" in hidden.value.reason

    fallback = connector_for(app, slapd, subject_dn_fallback=True)
    assert fallback.verify(nouuid, slapd.password(nouuid)).subject == slapd.dn("nouuid")
    # Entries that have one keep it: the fallback is only a fallback.
    assert fallback.verify(ALICE, slapd.password(ALICE)).subject == slapd.attribute(
        slapd.dn("alice"), "entryUUID")[0]


# -- passwords ----------------------------------------------------------------------------------
def test_an_empty_password_is_refused_before_anything_reaches_the_directory(app, slapd):
    # The danger is real: this directory takes a DN with an empty password as an
    # unauthenticated bind, and says yes.
    assert slapd.whoami(slapd.dn("alice"), "") == "anonymous"
    connector = connector_for(app, slapd)

    with pytest.raises(InvalidCredentials) as refused:
        connector.verify(ALICE, "")
    assert type(refused.value) is InvalidCredentials and str(refused.value) == ""
    with slapd.down(), pytest.raises(InvalidCredentials):  # no call: not even "unavailable"
        connector.verify(ALICE, "")


def test_a_password_is_sent_as_typed_not_changed_by_saslprep(app, slapd):
    uni = "uni@example.com"
    password = slapd.password(uni)
    assert "\ufb01" in password and "\u00a0" in password
    connector = connector_for(app, slapd)

    assert connector.verify(uni, password).claims["uid"] == "uni"
    with pytest.raises(InvalidCredentials):  # what SASLprep would have sent instead
        connector.verify(uni, password.replace("\ufb01", "fi").replace("\u00a0", " "))


@pytest.mark.parametrize("identifier", [
    "*", "*@example.com", "alice@example.com)(mail=*", "alice@example.com)(|(mail=*",
    "\\2a", "alice@example.com\x00",
])
def test_what_the_user_types_cannot_change_the_filter(app, slapd, identifier):
    # Unescaped, each would match several entries (unavailable: ambiguous) or alice (success).
    with pytest.raises(UserNotFound):
        connector_for(app, slapd).verify(identifier, slapd.password(ALICE))


def test_the_user_filter_is_configurable(app, slapd):
    connector = connector_for(app, slapd, user_filter="(&(objectClass=person)(uid={identifier}))")
    assert connector.verify("alice", slapd.password(ALICE)).claims["mail"] == ALICE
    with pytest.raises(UserNotFound):
        connector.verify(ALICE, slapd.password(ALICE))


