"""The ``keycloak`` connector's second factor with ``otp = "always"``, on a scripted Keycloak: the
password first, then the code without the password, in the connector and through the whole sign-in."""

from __future__ import annotations

import json

import pytest

from connectors import InvalidCredentials, LegacyUnavailable, MfaRequired
from models import JourneyRun, LegacyLink, PasswordCredential, User, db
from tests.accounts import count_users
from tests.conftest import SignIn, deployment
from tests.connectors.conftest import (
    page_text,
)
from tests.connectors.contract import build_connector
from tests.connectors.keycloak.realm import (
    ALICE,
    CODE_NOT_RIGHT,
    MFA_HINT,
    OIDC,
    ScriptedKeycloak,
    keycloak_error,
)


# -- the second factor: otp = "always" --------------------------------------------------------------
def otp_table(keycloak: ScriptedKeycloak, **settings) -> dict:
    return keycloak.table(otp="always", otp_client_id="ferry-otp",
                          otp_client_secret="ferry-otp-secret", **settings)


def runs_text(app) -> str:
    with app.app_context(), db.connection_context():
        return json.dumps(list(JourneyRun.select().dicts()), default=str)


def test_otp_always_checks_the_password_then_the_code_without_the_password(app, scripted_keycloak):
    connector = build_connector(app, otp_table(scripted_keycloak))
    olga = scripted_keycloak.users["olga@example.com"]

    with pytest.raises(MfaRequired) as challenge:
        connector.verify("olga@example.com", "olga-pass-1")
    state = challenge.value.state
    assert challenge.value.factor == "totp"
    assert state == {"username": "olga@example.com", "subject": olga["sub"]}
    assert "olga-pass-1" not in json.dumps(state)

    with pytest.raises(InvalidCredentials):
        connector.complete_mfa(json.loads(json.dumps(state)), "000000")
    identity = connector.complete_mfa(json.loads(json.dumps(state)), "314159")

    assert identity.subject == olga["sub"] and identity.claims["given_name"] == "Olga"
    password_grant, wrong_code, right_code = [c.form() for c in scripted_keycloak.idp.calls(f"{OIDC}/token")]
    assert password_grant["client_id"] == "ferry" and "otp" not in password_grant
    assert right_code == {"grant_type": "password", "username": "olga@example.com", "otp": "314159",
                          "totp": "314159", "scope": "openid email profile", "client_id": "ferry-otp",
                          "client_secret": "ferry-otp-secret"}
    assert wrong_code["otp"] == "000000" and "password" not in wrong_code


def test_otp_always_a_wrong_password_never_asks_for_a_code(app, scripted_keycloak):
    connector = build_connector(app, otp_table(scripted_keycloak))
    with pytest.raises(InvalidCredentials):
        connector.verify("olga@example.com", "not-olgas-password")
    assert [c.form()["client_id"] for c in scripted_keycloak.idp.calls(f"{OIDC}/token")] == ["ferry"]


def test_otp_client_answering_for_another_user_is_refused(app, scripted_keycloak):
    connector = build_connector(app, otp_table(scripted_keycloak))
    alice = {"username": "olga@example.com", "subject": scripted_keycloak.users[ALICE]["sub"]}
    with pytest.raises(LegacyUnavailable) as refused:
        connector.complete_mfa(alice, "314159")
    assert "another Keycloak user" in refused.value.reason


def test_otp_a_lockout_at_the_code_step_reads_as_a_wrong_code(app, scripted_keycloak):
    connector = build_connector(app, otp_table(scripted_keycloak))
    scripted_keycloak.idp.routes[f"{OIDC}/token"] = keycloak_error(
        400, "invalid_grant", "Account temporarily disabled")
    state = {"username": "olga@example.com", "subject": scripted_keycloak.users["olga@example.com"]["sub"]}
    with pytest.raises(InvalidCredentials):
        connector.complete_mfa(state, "314159")


def test_otp_always_through_the_whole_sign_in(make_app, scripted_keycloak):
    app = make_app(DEPLOYMENT=deployment({"corp-keycloak": otp_table(scripted_keycloak)}))
    walker = SignIn(app.test_client())

    code_page = walker.sign_in("olga@example.com", "olga-pass-1")
    assert code_page.status_code == 200 and MFA_HINT in page_text(code_page)
    assert count_users(app) == 0
    assert "olga-pass-1" not in runs_text(app)  # the journey run holds no password

    wrong = walker.post(code="000000")
    assert wrong.status_code == 200 and CODE_NOT_RIGHT in page_text(wrong)
    assert count_users(app) == 0

    walker.code_from(walker.post(code="314159"))
    with app.app_context(), db.connection_context():
        user = User.get(User.email == "olga@example.com")
        link = LegacyLink.get(LegacyLink.user == user)
        credential = PasswordCredential.get(PasswordCredential.user == user)
    assert link.subject == scripted_keycloak.users["olga@example.com"]["sub"]
    assert credential is not None and "olga-pass-1" not in credential.hash
    assert "olga-pass-1" not in runs_text(app)


def test_otp_always_too_many_wrong_codes_creates_no_user(make_app, scripted_keycloak):
    app = make_app(DEPLOYMENT=deployment({"corp-keycloak": otp_table(scripted_keycloak)}))
    walker = SignIn(app.test_client())
    walker.sign_in("olga@example.com", "olga-pass-1")
    for _attempt in range(5):
        answer = walker.post(code="000000")
    assert "Too many wrong codes" in page_text(answer)
    assert count_users(app) == 0
