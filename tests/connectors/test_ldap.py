"""The ``ldap`` connector against a real OpenLDAP ``slapd`` on loopback (:mod:`tests.peers.slapd`).

Everything here talks to slapd itself: StartTLS and LDAPS with a CA made by the tests, the
``ppolicy`` overlay's lock-out, expiry and reset, a referral, an ambiguous directory, access
rules that hide an attribute, a server that is down or hangs (SIGSTOP).
"""

from __future__ import annotations

import pytest

from app import create_app
from connectors import AccountBlocked, InvalidCredentials, LegacyUnavailable, UserNotFound
from models import LegacyLink, PasswordCredential, User, database, db
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
from tests.connectors.contract import ContractCase, PasswordConnectorContract, build_connector
from tests.connectors.scripted_idp import closed_port_url
from tests.peers.slapd import MAX_FAILURES, Slapd

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
    """One Ferry for this module's connector-level tests: they build connectors from its config
    and never use its database (whole sign-ins build their own with ``make_app``)."""
    yield create_app({"TESTING": True, "SECRET_KEY": "test-secret-key", "ISSUER": "http://localhost",
                      "CONFIG_FILE": None, "DEPLOYMENT": deployment(),
                      "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('ferry')}/ferry.db"})
    database.shutdown()


def ldap_table(slapd: Slapd, **settings) -> dict:
    table = {"type": "ldap", "url": slapd.url, "start_tls": True, "ca_file": slapd.ca_file,
             "bind_dn": slapd.bind_dn, "bind_password": slapd.bind_password,
             "base_dn": slapd.people_dn, "connect_timeout": 2, "read_timeout": 1, **settings}
    return {key: value for key, value in table.items() if value is not None}


def connector_for(app, slapd: Slapd, **settings):
    return build_connector(app, ldap_table(slapd, **settings))


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


def migrated(app, email: str) -> tuple[User, LegacyLink, PasswordCredential | None]:
    with app.app_context(), db.connection_context():
        user = User.get(User.email == email)
        return user, LegacyLink.get(LegacyLink.user == user), PasswordCredential.get_or_none(
            PasswordCredential.user == user)


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
