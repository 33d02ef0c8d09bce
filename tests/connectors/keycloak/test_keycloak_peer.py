"""The ``keycloak`` connector against a real peer: Django OAuth Toolkit served under Keycloak's
paths. The contract, the realm URLs with or without ``/auth``, a wrong realm, the subject, client
authentication styles and the whole sign-in."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from connectors import InvalidCredentials, LegacyUnavailable
from models import LegacyLink, PasswordCredential, User, db
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
from tests.connectors.keycloak.realm import ALICE, BOB, OIDC, REALM, keycloak_table
from tests.peers.keycloak_paths import KeycloakPaths


# -- the real peer: Django OAuth Toolkit under Keycloak's paths ----------------------------------
class TestKeycloakContract(PasswordConnectorContract):
    @pytest.fixture
    def contract_case(self, app, dot, keycloak):
        @contextmanager
        def outage():
            keycloak.stop()
            try:
                yield
            finally:
                keycloak.start()

        return ContractCase(
            connector=build_connector(app, keycloak_table(keycloak, dot)),
            identifier=ALICE, password=dot.users[ALICE], wrong_password=dot.users[ALICE] + "x",
            unknown_identifier="nobody@example.com", expected_email=ALICE, outage=outage,
            secrets=(dot.client_secret,),
        )


@pytest.mark.parametrize("prefix", ["", "/auth"], ids=["keycloak-17+", "legacy-auth-prefix"])
def test_the_realm_urls_are_built_from_the_base_url_with_or_without_auth(app, dot, prefix):
    with KeycloakPaths(dot.base_url, realm=REALM, prefix=prefix) as proxy:
        connector = build_connector(app, keycloak_table(proxy, dot, base_url=proxy.base_url + "/"))
        identity = connector.verify(ALICE, dot.users[ALICE])

        assert identity.subject == dot.profiles[ALICE]["sub"]
        assert proxy.requests == [("POST", f"{prefix}{OIDC}/token"), ("GET", f"{prefix}{OIDC}/userinfo")]

        # The other layout is a misconfiguration: Ferry's fault, never the user's.
        other = proxy.base_url.removesuffix("/auth") if prefix else proxy.base_url + "/auth"
        with pytest.raises(LegacyUnavailable) as wrong_layout:
            build_connector(app, keycloak_table(proxy, dot, base_url=other)).verify(
                ALICE, dot.users[ALICE])
        assert "404" in wrong_layout.value.reason


def test_a_wrong_realm_is_ferrys_fault_and_says_so(app, dot, keycloak):
    connector = build_connector(app, keycloak_table(keycloak, dot, realm="acme-typo"))
    with pytest.raises(LegacyUnavailable) as refused:
        connector.verify(ALICE, dot.users[ALICE])
    assert "Realm does not exist" in refused.value.reason


def test_the_subject_is_keycloaks_user_id_and_differs_between_users(app, dot, keycloak):
    connector = build_connector(app, keycloak_table(keycloak, dot))
    alice = connector.verify(ALICE, dot.users[ALICE])
    bob = connector.verify(BOB, dot.users[BOB])
    assert (alice.subject, bob.subject) == (dot.profiles[ALICE]["sub"], dot.profiles[BOB]["sub"])
    assert alice.subject != bob.subject


@pytest.mark.parametrize(("client_auth", "works"), [("post", True), ("basic", True), ("none", False)])
def test_client_authentication_styles(app, dot, keycloak, client_auth, works):
    connector = build_connector(app, keycloak_table(keycloak, dot, client_auth=client_auth))
    if not works:  # a public-client request for a confidential client
        with pytest.raises(LegacyUnavailable):
            connector.verify(ALICE, dot.users[ALICE])
        return
    assert connector.verify(ALICE, dot.users[ALICE]).subject == dot.profiles[ALICE]["sub"]
    with pytest.raises(InvalidCredentials):
        connector.verify(ALICE, "not-her-password")


def test_a_user_migrates_through_the_whole_sign_in(make_app, dot, keycloak):
    app = make_app(DEPLOYMENT=deployment({"corp-keycloak": keycloak_table(keycloak, dot)}))
    walker = SignIn(app.test_client())

    walker.code_from(walker.sign_in(ALICE, dot.users[ALICE]))

    with app.app_context(), db.connection_context():
        user = User.get(User.email == ALICE)
        link = LegacyLink.get(LegacyLink.user == user)
        credential = PasswordCredential.get(PasswordCredential.user == user)
    assert (user.given_name, user.family_name, user.email_verified) == ("Alice", "Liddell", True)
    assert (link.connector, link.subject) == ("corp-keycloak", dot.profiles[ALICE]["sub"])
    assert dot.users[ALICE] not in credential.hash


def test_wrong_passwords_create_no_user_and_count(make_app, dot, keycloak):
    app = make_app(DEPLOYMENT=deployment({"corp-keycloak": keycloak_table(keycloak, dot)}),
                   FAILED_SIGNINS_PER_IDENTIFIER="2 per 15 minutes")
    [answer] = sign_in_attempts(app, ALICE, "not-alices-password", times=1)
    assert WRONG_CREDENTIALS in page_text(answer)
    assert retry_after(app, ALICE) == 0  # one failure is below the limit...
    sign_in_attempts(app, ALICE, "still-not-it", times=1)
    assert retry_after(app, ALICE) > 0  # ...but each one counts
    assert count_users(app) == 0


def test_a_wrong_client_secret_is_ferrys_fault_not_the_users(make_app, dot, keycloak):
    table = keycloak_table(keycloak, dot, client_secret="not-the-secret")
    app = make_app(DEPLOYMENT=deployment({"corp-keycloak": table}),
                   FAILED_SIGNINS_PER_IDENTIFIER="2 per 15 minutes")
    answers = sign_in_attempts(app, ALICE, dot.users[ALICE], times=3)
    assert all(UNAVAILABLE in page_text(a) for a in answers)
    assert count_users(app) == 0
    assert retry_after(app, ALICE) == 0
