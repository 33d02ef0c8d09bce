"""The ``keycloak`` connector.

Against a real password-grant server: Django OAuth Toolkit behind :class:`KeycloakPaths`, a real
reverse proxy that serves it under Keycloak's URL layout (``/realms/{realm}/protocol/
openid-connect/...``, with or without ``/auth``). Keycloak's own error bodies (disabled, locked,
not fully set up...), its signed ID tokens and its two-client one-time-code flow are played by a
:class:`ScriptedIdp` answering as Keycloak documents it (:class:`ScriptedKeycloak`).
"""

from __future__ import annotations

import json
import secrets
import time
from contextlib import contextmanager

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from app import create_app
from connectors import AccountBlocked, InvalidCredentials, LegacyUnavailable, MfaRequired
from models import JourneyRun, LegacyLink, PasswordCredential, User, database, db
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
from tests.connectors.scripted_idp import (
    TLS_HANDSHAKE,
    Recorded,
    Reply,
    ScriptedIdp,
    closed_port_url,
)
from tests.peers.keycloak_paths import KeycloakPaths

ALICE, BOB = "alice@example.com", "bob@example.com"
REALM = "acme"
OIDC = f"/realms/{REALM}/protocol/openid-connect"
MFA_HINT = "Enter the code from your authenticator app."
CODE_NOT_RIGHT = "That code is not right"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """One Ferry for this module's connector-level tests: they build connectors from its config
    and never use its database (whole sign-ins build their own with ``make_app``)."""
    yield create_app({"TESTING": True, "SECRET_KEY": "test-secret-key", "ISSUER": "http://localhost",
                      "CONFIG_FILE": None, "DEPLOYMENT": deployment(),
                      "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('ferry')}/ferry.db"})
    database.shutdown()


# -- the real peer: Django OAuth Toolkit under Keycloak's paths ----------------------------------
@pytest.fixture
def keycloak(dot):
    with KeycloakPaths(dot.base_url, realm=REALM) as proxy:
        yield proxy


def keycloak_table(proxy: KeycloakPaths, dot, **settings) -> dict:
    table = {"type": "keycloak", "base_url": proxy.base_url, "realm": REALM,
             "client_id": dot.client_id, "client_secret": dot.client_secret,
             # DOT signs no ID token for the password grant: the profile comes from userinfo.
             "connect_timeout": 2, "read_timeout": 5, **settings}
    return {key: value for key, value in table.items() if value is not None}


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


# -- Keycloak as documented, on a scripted server ------------------------------------------------
SIGNING_KEY = RSAKey.generate_key(2048, parameters={"kid": "realm-key-1"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "realm-key-1"})


class ScriptedKeycloak:
    """One realm's direct grant, userinfo and certs as Keycloak answers them.

    Two clients: ``ferry`` (flow: username, password) and ``ferry-otp`` (flow: username, OTP
    required), as the connector's docstring tells operators to set up. Users: ``olga`` with an
    OTP device and ``alice`` without.
    """

    CLIENTS = {"ferry": ("ferry-secret", "password"), "ferry-otp": ("ferry-otp-secret", "otp")}

    def __init__(self, idp: ScriptedIdp, issuer: str | None = None, key: RSAKey = SIGNING_KEY) -> None:
        self.idp = idp
        self.issuer = issuer or idp.url(f"/realms/{REALM}")
        self.key = key
        self.users = {
            "olga@example.com": {"password": "olga-pass-1", "otp": "314159", "enabled": True,
                                 "sub": "6f1c9c2e-0b9d-4c61-9b7a-1d2e3f405162",
                                 "given_name": "Olga", "family_name": "Petrova"},
            ALICE: {"password": "alice-pass-1", "otp": None, "enabled": True,
                    "sub": "0d6a7c8e-1111-4c61-9b7a-1d2e3f405162",
                    "given_name": "Alice", "family_name": "Liddell"},
        }
        self.tokens: dict[str, dict] = {}
        idp.routes[f"{OIDC}/token"] = self.token
        idp.routes[f"{OIDC}/userinfo"] = self.userinfo
        idp.routes[f"{OIDC}/certs"] = Reply(200, {"keys": [SIGNING_KEY.as_dict(private=False)]})

    def token(self, request: Recorded) -> Reply:
        form = request.form()
        client = self.CLIENTS.get(form.get("client_id", ""))
        if client is None or form.get("client_secret") != client[0]:
            return keycloak_error(401, "invalid_client", "Invalid client or Invalid client credentials")
        user = self.users.get(form.get("username", ""))
        if user is None:
            return keycloak_error(400, "invalid_grant", "Invalid user credentials")
        if not user["enabled"]:
            return keycloak_error(400, "invalid_grant", "Account disabled")
        if client[1] == "password" and form.get("password") != user["password"]:
            return keycloak_error(401, "invalid_grant", "Invalid user credentials")
        if client[1] == "otp" and (user["otp"] is None
                                   or (form.get("otp") or form.get("totp")) != user["otp"]):
            return keycloak_error(401, "invalid_grant", "Invalid user credentials")
        access = secrets.token_urlsafe(16)
        self.tokens[access] = user
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": form["client_id"], "azp": form["client_id"],
                  "sub": user["sub"], "typ": "ID", "iat": now, "exp": now + 300,
                  "email": form["username"], "email_verified": True,
                  "given_name": user["given_name"], "family_name": user["family_name"]}
        id_token = jwt.encode({"alg": "RS256", "kid": "realm-key-1", "typ": "JWT"}, claims, self.key)
        return Reply(200, {"access_token": access, "expires_in": 300, "refresh_expires_in": 1800,
                           "refresh_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                           "id_token": id_token, "not-before-policy": 0,
                           "session_state": secrets.token_hex(8), "scope": "openid email profile"})

    def userinfo(self, request: Recorded) -> Reply:
        user = self.tokens.get(request.headers.get("Authorization", "").removeprefix("Bearer "))
        if user is None:
            return Reply(401, "", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        email = next(e for e, u in self.users.items() if u is user)
        return Reply(200, {"sub": user["sub"], "email": email, "email_verified": True,
                           "preferred_username": email, "given_name": user["given_name"],
                           "family_name": user["family_name"],
                           "name": f"{user['given_name']} {user['family_name']}"})

    def table(self, **settings) -> dict:
        table = {"type": "keycloak", "base_url": self.idp.base_url, "realm": REALM,
                 "client_id": "ferry", "client_secret": "ferry-secret",
                 "connect_timeout": 0.5, "read_timeout": 0.5, **settings}
        return {key: value for key, value in table.items() if value is not None}


@pytest.fixture
def scripted_keycloak(scripted_idp):
    return ScriptedKeycloak(scripted_idp)


def test_what_the_direct_grant_carries(app, scripted_keycloak):
    connector = build_connector(app, scripted_keycloak.table())
    identity = connector.verify(ALICE, "alice-pass-1")

    [token] = scripted_keycloak.idp.calls(f"{OIDC}/token")
    assert token.form() == {"grant_type": "password", "username": ALICE, "password": "alice-pass-1",
                            "scope": "openid email profile", "client_id": "ferry",
                            "client_secret": "ferry-secret"}
    assert "Authorization" not in token.headers
    assert identity.subject == scripted_keycloak.users[ALICE]["sub"]
    assert identity.claims["preferred_username"] == ALICE  # userinfo, over the ID token


def keycloak_error(status: int, error: str, description: str) -> Reply:
    return Reply(status, {"error": error, "error_description": description})


KEYCLOAK_ERRORS = {  # answer -> (Keycloak's reply, what Ferry raises, its reason)
    "wrong-password": (keycloak_error(401, "invalid_grant", "Invalid user credentials"),
                       InvalidCredentials, None),
    "unknown-user": (keycloak_error(400, "invalid_grant", "Invalid user credentials"),
                     InvalidCredentials, None),
    "disabled": (keycloak_error(400, "invalid_grant", "Account disabled"), AccountBlocked, "disabled"),
    "brute-force-lockout": (keycloak_error(400, "invalid_grant", "Account temporarily disabled"),
                            AccountBlocked, "locked"),
    "required-actions-pending": (keycloak_error(400, "invalid_grant", "Account is not fully set up"),
                                 AccountBlocked, "password_change_required"),
    "invalid-client": (keycloak_error(401, "invalid_client", "Invalid client or Invalid client credentials"),
                       LegacyUnavailable, "invalid_client"),
    "direct-grant-not-allowed": (
        keycloak_error(400, "unauthorized_client", "Client not allowed for direct access grants"),
        LegacyUnavailable, "Client not allowed for direct access grants"),
    "invalid-scope": (keycloak_error(400, "invalid_scope", "Invalid scopes: openid x"),
                      LegacyUnavailable, "invalid_scope"),
    "realm-does-not-exist": (keycloak_error(404, "Realm does not exist", "Realm does not exist"),
                             LegacyUnavailable, "Realm does not exist"),
}


@pytest.mark.parametrize("answer", list(KEYCLOAK_ERRORS), ids=list(KEYCLOAK_ERRORS))
def test_keycloaks_error_bodies_are_mapped(app, scripted_keycloak, answer):
    reply, expected, detail = KEYCLOAK_ERRORS[answer]
    scripted_keycloak.idp.routes[f"{OIDC}/token"] = reply
    with pytest.raises(expected) as raised:
        build_connector(app, scripted_keycloak.table()).verify(ALICE, "alice-pass-1")
    if expected is InvalidCredentials:
        assert type(raised.value) is InvalidCredentials and str(raised.value) == ""
    elif expected is AccountBlocked:
        assert raised.value.reason == detail
    else:
        assert detail in raised.value.reason


@pytest.mark.parametrize(("description", "notice"), [
    ("Account disabled", "Your account is disabled"),
    ("Account temporarily disabled", "Your account is locked"),
    ("Account is not fully set up", "You need to choose a new password"),
])
def test_a_blocked_account_is_told_why_and_not_migrated(make_app, scripted_keycloak, description, notice):
    scripted_keycloak.idp.routes[f"{OIDC}/token"] = keycloak_error(400, "invalid_grant", description)
    app = make_app(DEPLOYMENT=deployment({"corp-keycloak": scripted_keycloak.table()}))

    [answer] = sign_in_attempts(app, ALICE, "alice-pass-1", times=1)

    assert answer.status_code == 200
    assert notice in page_text(answer) and WRONG_CREDENTIALS not in page_text(answer)
    assert count_users(app) == 0


FAILURES = {
    "token-500": ({f"{OIDC}/token": Reply(500, {"error": "unknown_error"})}, "500"),
    "token-502-html": ({f"{OIDC}/token": Reply(502, "<html><h1>Bad Gateway</h1></html>", "text/html")},
                       "502"),
    "token-200-html": ({f"{OIDC}/token": Reply(200, "<html><body>Sign in to acme</body></html>",
                                               "text/html")}, "not JSON"),
    "token-hangs": ({f"{OIDC}/token": Reply(hang=True)}, "timed out"),
    "token-without-access-token": ({f"{OIDC}/token": Reply(200, {"token_type": "Bearer"})},
                                   "access_token"),
    "userinfo-500": ({f"{OIDC}/userinfo": Reply(500, "Internal Server Error", "text/plain")},
                     "userinfo"),
    "userinfo-without-sub": ({f"{OIDC}/userinfo": Reply(200, {"email": ALICE})}, "sub"),
    "userinfo-html": ({f"{OIDC}/userinfo": Reply(200, "<html></html>", "text/html")}, "not JSON"),
    "certs-without-keys": ({f"{OIDC}/certs": Reply(200, {"error": "nope"})}, "keys"),
}


@pytest.mark.parametrize("failure", list(FAILURES), ids=list(FAILURES))
def test_a_misbehaving_keycloak_is_unavailable_never_the_users_fault(
        app, make_app, scripted_keycloak, failure):
    routes, reason = FAILURES[failure]
    scripted_keycloak.idp.routes.update(routes)
    table = scripted_keycloak.table()
    with pytest.raises(LegacyUnavailable) as unavailable:
        build_connector(app, table).verify(ALICE, "alice-pass-1")
    assert reason in unavailable.value.reason

    app = make_app(DEPLOYMENT=deployment({"corp-keycloak": table}),
                   FAILED_SIGNINS_PER_IDENTIFIER="2 per 15 minutes")
    answers = sign_in_attempts(app, ALICE, "alice-pass-1", times=3)
    assert all(UNAVAILABLE in page_text(a) for a in answers)
    assert count_users(app) == 0 and retry_after(app, ALICE) == 0


@pytest.mark.parametrize("where", ["connection-refused", "tls-failure"])
def test_transport_failures_are_unavailable(app, scripted_keycloak, where):
    base = (closed_port_url("") if where == "connection-refused"
            else scripted_keycloak.idp.base_url.replace("http:", "https:"))
    with pytest.raises(LegacyUnavailable) as unavailable:
        build_connector(app, scripted_keycloak.table(base_url=base)).verify(ALICE, "alice-pass-1")
    assert ("connect" if where == "connection-refused" else "TLS") in unavailable.value.reason
    if where == "tls-failure":
        assert len(scripted_keycloak.idp.calls(TLS_HANDSHAKE)) == 1


def test_extra_fields_in_keycloaks_answers_are_ignored_and_extra_claims_kept(app, scripted_keycloak):
    keycloak_userinfo = scripted_keycloak.userinfo

    def userinfo_with_extras(request):
        reply = keycloak_userinfo(request)
        return Reply(200, {**reply.body, "realm_access": {"roles": ["staff"]}, "locale": "de"})

    scripted_keycloak.idp.routes[f"{OIDC}/userinfo"] = userinfo_with_extras
    identity = build_connector(app, scripted_keycloak.table()).verify(ALICE, "alice-pass-1")
    assert identity.claims["realm_access"] == {"roles": ["staff"]} and identity.claims["locale"] == "de"


# -- the realm's signed ID token ------------------------------------------------------------------
def test_the_id_token_is_verified_with_the_realms_keys(app, scripted_keycloak):
    connector = build_connector(app, scripted_keycloak.table(use_userinfo=False))
    identity = connector.verify(ALICE, "alice-pass-1")
    assert identity.subject == scripted_keycloak.users[ALICE]["sub"]
    assert identity.claims["iss"] == scripted_keycloak.idp.url(f"/realms/{REALM}")
    assert len(scripted_keycloak.idp.calls(f"{OIDC}/certs")) == 1
    assert not scripted_keycloak.idp.calls(f"{OIDC}/userinfo")


@pytest.mark.parametrize(("issuer", "key", "reason"), [
    pytest.param("https://sso.example.com/realms/acme", SIGNING_KEY, "'iss'", id="another-issuer"),
    pytest.param(None, OTHER_KEY, "ID token refused", id="signed-by-another-key"),
])
def test_an_id_token_that_fails_a_check_is_refused(app, scripted_idp, issuer, key, reason):
    keycloak = ScriptedKeycloak(scripted_idp, issuer=issuer, key=key)
    with pytest.raises(LegacyUnavailable) as refused:
        build_connector(app, keycloak.table(use_userinfo=False)).verify(ALICE, "alice-pass-1")
    assert reason in refused.value.reason


def test_an_id_token_for_another_client_is_refused(app, scripted_keycloak):
    keycloak_token = scripted_keycloak.token

    def token_for_another_audience(request):
        reply = keycloak_token(request)
        claims = jwt.decode(reply.body["id_token"], SIGNING_KEY).claims
        other = jwt.encode({"alg": "RS256", "kid": "realm-key-1"}, {**claims, "aud": "other-app"},
                           SIGNING_KEY)
        return Reply(200, {**reply.body, "id_token": other})

    scripted_keycloak.idp.routes[f"{OIDC}/token"] = token_for_another_audience
    with pytest.raises(LegacyUnavailable) as refused:
        build_connector(app, scripted_keycloak.table()).verify(ALICE, "alice-pass-1")
    assert "'aud'" in refused.value.reason


def test_issuer_setting_for_a_keycloak_with_another_public_hostname(app, scripted_idp):
    keycloak = ScriptedKeycloak(scripted_idp, issuer="https://sso.example.com/realms/acme")
    table = keycloak.table(use_userinfo=False, issuer="https://sso.example.com/realms/acme")
    assert build_connector(app, table).verify(ALICE, "alice-pass-1").subject == keycloak.users[ALICE]["sub"]


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


# -- settings ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("settings", "problem"), [
    ({"base_url": "https://sso.example.com/realms/acme"}, "not a realm URL"),
    ({"base_url": "sso.example.com"}, "http(s) URL"),
    ({"realm": "acme/protocol"}, "realm name"),
    ({"scope": "email profile"}, "openid"),
    ({"otp": "always"}, "otp_client_id"),
    ({"otp_client_id": "ferry-otp"}, 'only used with otp = "always"'),
    ({"otp": "always", "otp_client_id": "ferry"}, "another client"),
    ({"otp": "sometimes"}, "otp"),
    ({"token_url": "https://sso.example.com/token"}, "unknown setting"),
])
def test_settings_are_checked_at_start_up(app, settings, problem):
    table = {"type": "keycloak", "base_url": "https://sso.example.com", "realm": "acme",
             "client_id": "ferry", "client_secret": "s", **settings}
    with pytest.raises(ConfigError) as invalid:
        build_connector(app, table)
    assert problem in str(invalid.value)


def test_defaults_derive_every_url_from_the_realm(app):
    connector = build_connector(app, {"type": "keycloak", "base_url": "https://sso.example.com/auth/",
                                      "realm": "acme", "client_id": "ferry"})
    realm = "https://sso.example.com/auth/realms/acme"
    settings = connector.settings
    assert settings.token_url == f"{realm}/protocol/openid-connect/token"
    assert settings.userinfo_url == f"{realm}/protocol/openid-connect/userinfo"
    assert settings.jwks_uri == f"{realm}/protocol/openid-connect/certs"
    assert settings.issuer == realm
    assert (settings.client_auth, settings.otp, settings.scope) == ("post", "never", "openid email profile")
