"""Connector modes end to end against a real slapd: ``sync`` (the directory stays the system of
record), ``shadow`` (Ferry answers, the directory is asked too and mismatches are counted),
``closed`` (the directory is never called; the last users set a password from the roster),
and a mode switched in the live store while users sign in."""

from __future__ import annotations

import secrets
import threading

import pytest
from cryptography.fernet import Fernet

import store
from lifecycle import calls, shadow
from models import AuditEvent, LegacyCall, LegacyLink, PasswordCredential, RosterEntry, User, db
from tests.admin.conftest import signed_in
from tests.admin.test_migration import page_of, table_rows
from tests.authenticators.mail import MailServer
from tests.conftest import SignIn, deployment
from tests.connectors.ldap.conftest import ldap_table, slapd  # noqa: F401 (the session's slapd)
from tests.journeys.selfservice import NEW_PASSWORD, start, text, user_row
from tests.lifecycle.test_metrics import scrape, value
from tests.peers.slapd import PEOPLE, ssha

NAME = "corp-ldap"


class Person:
    """A person added to the session's slapd for one test, removed after it."""

    def __init__(self, directory) -> None:
        self.directory = directory
        self.uid = "mode-" + secrets.token_hex(4)
        self.email = f"{self.uid}@example.com"
        self.password = "first-" + secrets.token_urlsafe(8)
        self.dn = f"uid={self.uid},{PEOPLE}"
        directory.modify(f"dn: {self.dn}\nchangetype: add\nobjectClass: inetOrgPerson\n"
                         f"uid: {self.uid}\ncn: Mode Person\ngivenName: Mode\nsn: Person\n"
                         f"mail: {self.email}\nuserPassword: {ssha(self.password)}\n")
        self._no_reset()

    def _no_reset(self) -> None:
        # An administrator's password change sets pwdReset (pwdMustChange): not a user's own.
        self.directory.modify(f"dn: {self.dn}\nchangetype: modify\nreplace: pwdReset\n")

    def change_password(self) -> str:
        """The person changes the password at the directory; returns the new one."""
        self.password = "second-" + secrets.token_urlsafe(8)
        self.directory.modify(f"dn: {self.dn}\nchangetype: modify\nreplace: userPassword\n"
                              f"userPassword: {ssha(self.password)}\n")
        self._no_reset()
        return self.password

    def rename(self, given_name: str) -> None:
        self.directory.modify(f"dn: {self.dn}\nchangetype: modify\nreplace: givenName\n"
                              f"givenName: {given_name}\n")

    def remove(self) -> None:
        self.directory.modify(f"dn: {self.dn}\nchangetype: delete\n")


@pytest.fixture
def person(slapd):  # noqa: F811
    added = Person(slapd)
    yield added
    added.remove()


@pytest.fixture
def mail():
    with MailServer() as server:
        yield server


def ldap_app(make_app, slapd, mode: str, **config):  # noqa: F811
    return make_app(DEPLOYMENT=deployment({NAME: ldap_table(slapd, migration=mode)}), **config)


def events(app, name: str) -> list[AuditEvent]:
    with app.app_context(), db.connection_context():
        return list(AuditEvent.select().where(AuditEvent.event == name).order_by(AuditEvent.id))


def legacy_calls(app) -> int:
    calls.flush()  # written behind the requests
    with app.app_context(), db.connection_context():
        return LegacyCall.select().where(LegacyCall.connector == NAME).count()


def signs_in(app, email: str, password: str) -> bool:
    response = SignIn(app.test_client()).sign_in(email, password)
    return response.status_code in (302, 303) and "code=" in response.headers.get("Location", "")


def test_sync_checks_every_sign_in_at_the_directory_and_keeps_no_password(
        make_app, slapd, person):  # noqa: F811
    before = ldap_app(make_app, slapd, "migrate")
    assert signs_in(before, person.email, person.password)  # migrated, with a local hash
    app = ldap_app(make_app, slapd, "sync", DATABASE_URL=before.config["DATABASE_URL"])
    old = person.password
    assert signs_in(app, person.email, old)
    with app.app_context(), db.connection_context():
        user = User.get(User.email == person.email)
        assert PasswordCredential.select().where(PasswordCredential.user == user).count() == 0
        assert LegacyLink.get(LegacyLink.user == user).connector == NAME
    calls = legacy_calls(app)

    person.rename("Renamed")
    new = person.change_password()
    assert not signs_in(app, person.email, old)  # the directory said no: Ferry kept no copy
    assert signs_in(app, person.email, new)
    assert legacy_calls(app) >= calls + 2  # every sign-in asked the directory
    assert user_row(app, person.email).given_name == "Renamed"  # the profile follows it


def test_sync_refuses_a_password_reset_and_says_where_to_change_it(make_app, slapd, person,  # noqa: F811
                                                                   mail):
    app = make_app(DEPLOYMENT=_with_lookup(ldap_table(
        slapd, migration="sync", password_change_url="https://directory.example/password")),
        **mail.config())
    assert signs_in(app, person.email, person.password)
    browser = start(app, "forgot-password")
    browser.post(identifier=person.email)
    page = browser.post(code=mail.last_code(person.email))
    words = text(page)
    assert page.status_code == 200 and "cannot be changed here" in words, words[:600]
    assert 'href="https://directory.example/password"' in page.get_data(as_text=True)
    assert [e.details["reason"] for e in events(app, "password.reset_refused")] == ["sync"]
    assert signs_in(app, person.email, person.password)  # nothing changed


def _with_lookup(table: dict) -> dict:
    tables = deployment({NAME: table})
    tables["journeys"] = {"forgot-password": {"steps": {"send": {"lookup_connector": NAME}}}}
    return tables


def test_shadow_answers_with_ferry_and_counts_what_the_directory_says(
        make_app, slapd, person):  # noqa: F811
    app = ldap_app(make_app, slapd, "shadow")
    before = scrape(app.test_client())
    first = person.password
    assert signs_in(app, person.email, first)  # not migrated yet: the directory checks
    assert events(app, "user.migrated")

    assert signs_in(app, person.email, first)  # now Ferry answers; the directory agrees
    assert shadow.drain()
    assert len(events(app, "shadow.match")) == 1

    person.change_password()  # changed at the legacy side after the move
    assert signs_in(app, person.email, first)  # Ferry's answer is the one that counts
    assert shadow.drain()
    [mismatch] = events(app, "shadow.mismatch")
    assert mismatch.details == {"local": True, "legacy": False}
    assert mismatch.connector == NAME
    shown = table_rows(page_of(signed_in(app)), "Connector modes and shadow checks")
    assert shown[NAME] == ["shadow", "1", "1", "0", "0"]  # agreed, disagreed, ...
    after = scrape(app.test_client())
    assert value(after, "ferry_connector_mode", connector=NAME, mode="shadow") == 1
    assert value(after, "ferry_connector_mode", connector=NAME, mode="migrate") == 0
    for result in ("match", "mismatch"):
        assert (value(after, "ferry_shadow_checks_total", connector=NAME, result=result)
                - value(before, "ferry_shadow_checks_total", connector=NAME, result=result)) == 1


def test_closed_never_calls_the_directory_and_the_last_users_move_with_a_new_password(
        make_app, slapd, person, mail):  # noqa: F811
    app = ldap_app(make_app, slapd, "closed", **mail.config())
    with app.app_context(), db.connection_context():
        RosterEntry.create(connector=NAME, email=person.email, source="test",
                           attributes={"givenName": "Rostered", "sn": "Person"})
    browser = SignIn(app.test_client())
    page = browser.sign_in(person.email, person.password)
    assert page.status_code == 200 and "the old one is switched off" in text(page), text(page)[:600]
    assert legacy_calls(app) == 0  # never asked

    browser.post()  # "Choose a new password": on to forgot-password
    assert "Forgot your password?" in text(browser.page) or "identifier" in text(browser.page)
    browser.post(identifier=person.email)
    browser.post(code=mail.last_code(person.email))
    done = browser.post(password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    assert done.status_code in (302, 303), text(done)[:600]
    created = user_row(app, person.email)
    assert created.given_name == "Rostered" and created.email_verified
    with app.app_context(), db.connection_context():
        entry = RosterEntry.get(RosterEntry.email == person.email)
        assert entry.user_id == created.id and entry.migrated_at is not None
    assert signs_in(app, person.email, NEW_PASSWORD)
    assert not signs_in(app, person.email, person.password)
    assert legacy_calls(app) == 0


def test_closed_tells_nothing_to_an_address_the_roster_does_not_know(make_app, slapd,  # noqa: F811
                                                                     person, mail):
    app = ldap_app(make_app, slapd, "closed", **mail.config())
    browser = start(app, "forgot-password")
    browser.post(identifier=person.email)
    assert f"If an account exists for {person.email}" in text(browser.page)
    assert mail.received == []


def test_switching_a_mode_in_the_store_fails_no_sign_in(make_app, slapd, person):  # noqa: F811
    app = make_app(DEPLOYMENT=deployment(), STORE_KEYS=Fernet.generate_key().decode())
    table = ldap_table(slapd)

    def save(mode: str, revision: int | None) -> int:
        with app.test_request_context(), db.connection_context():
            return store.save("connectors", NAME, {**table, "migration": mode}, actor="ada@example.com",
                              expected_revision=revision)

    revision = save("migrate", None)
    assert signs_in(app, person.email, person.password)  # migrated
    outcomes: list[bool] = []
    stop = threading.Event()

    def sign_in_again_and_again() -> None:
        client = app.test_client()
        while not stop.is_set() and len(outcomes) < 40:
            # The same browser, signed in since the first one: the password every time.
            response = SignIn(client).sign_in(person.email, person.password, prompt="login")
            outcomes.append(response.status_code in (302, 303))

    worker = threading.Thread(target=sign_in_again_and_again)
    worker.start()
    try:
        for mode in ("shadow", "sync", "migrate", "shadow", "migrate"):
            revision = save(mode, revision)
    finally:
        worker.join(timeout=120)
        stop.set()
    assert shadow.drain()
    assert outcomes and all(outcomes), outcomes


def test_no_connector_type_redefines_the_migration_mode():
    """Every type keeps the common ``migration`` field (Okta's own ``mode`` is something else)."""
    from connectors import registry
    from connectors.common_settings import ConnectorSettings

    registry.discover()
    common = ConnectorSettings.model_fields["migration"]
    for type_name in registry.types():
        field = registry.get(type_name).Settings.model_fields["migration"]
        assert (field.annotation, field.default) == (common.annotation, common.default), type_name
    okta = registry.get("okta").Settings(type="okta", org_url="https://acme.okta.com",
                                         migration="closed")
    assert (okta.mode, okta.migration) == ("authn", "closed")
