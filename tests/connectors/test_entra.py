"""The ``entra`` connector against a faithful fake of Microsoft Entra ID's v2.0 token endpoint.

Entra cannot run here; :mod:`tests.peers.entra_fake` serves its documented ROPC token endpoint
and signing keys on loopback, with AADSTS error bodies and RS256-signed v2.0 ID tokens.
"""

from __future__ import annotations

import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from connectors import AccountBlocked, InvalidCredentials, LegacyUnavailable, UserNotFound
from models import LegacyLink, User, db
from settings.errors import ConfigError
from tests.accounts import count_users
from tests.conftest import SignIn, deployment
from tests.connectors.conftest import UNAVAILABLE, WRONG_CREDENTIALS, page_text, retry_after
from tests.connectors.contract import ContractCase, PasswordConnectorContract, build_connector
from tests.peers.entra_fake import TENANT_DOMAIN, EntraApp, EntraFake, Fault, aadsts_body

ALICE, ALICE_PASSWORD = "alice@contoso.com", "wonderland-1865"
MALLORY, MALLORY_PASSWORD = "mallory@contoso.com", "second-factor-7"  # Entra wants MFA


@pytest.fixture
def entra():
    with EntraFake() as fake:
        yield fake


def entra_table(fake: EntraFake, app: EntraApp | None = None, **settings) -> dict:
    app = app or fake.confidential
    table = {"type": "entra", "authority": fake.authority, "tenant": fake.tenant_id,
             "client_id": app.client_id, "client_secret": app.client_secret,
             "connect_timeout": 0.5, "read_timeout": 0.5, **settings}
    return {key: value for key, value in table.items() if value is not None}


def ferry(make_app, fake: EntraFake, **settings):
    return make_app(DEPLOYMENT=deployment({"corp-entra": entra_table(fake, **settings)}),
                    FAILED_SIGNINS_PER_IDENTIFIER="5 per 15 minutes")


def alice(fake: EntraFake):
    return fake.users[ALICE]


class TestEntraContract(PasswordConnectorContract):
    @pytest.fixture
    def contract_case(self, app, entra):
        return ContractCase(
            connector=build_connector(app, entra_table(entra)),
            identifier=ALICE, password=ALICE_PASSWORD, wrong_password="not-" + ALICE_PASSWORD,
            unknown_identifier="nobody@contoso.com", expected_email=ALICE,
            outage=entra.stopped, secrets=(entra.confidential.client_secret,),
        )


# -- what Ferry sends, and who the user is --------------------------------------------------------
@pytest.mark.parametrize("public", [False, True], ids=["confidential", "public-client"])
def test_the_ropc_request_is_what_microsoft_documents(app, entra, public):
    registered = entra.public if public else entra.confidential
    connector = build_connector(app, entra_table(entra, registered))

    connector.verify(ALICE, ALICE_PASSWORD)

    [token] = entra.calls(entra.token_path())
    expected = {"grant_type": "password", "username": ALICE, "password": ALICE_PASSWORD,
                "scope": "openid profile email", "client_id": registered.client_id}
    if not public:
        expected["client_secret"] = registered.client_secret
    assert token.form == expected
    assert "Authorization" not in token.headers
    assert len(entra.calls(entra.keys_path())) == 1  # the ID token was checked with the JWKS


def test_the_default_urls_are_the_public_cloud(app):
    connector = build_connector(app, {"type": "entra", "tenant": TENANT_DOMAIN, "client_id": "x"})
    settings = connector.settings
    assert settings.token_url == f"https://login.microsoftonline.com/{TENANT_DOMAIN}/oauth2/v2.0/token"
    assert settings.jwks_uri == f"https://login.microsoftonline.com/{TENANT_DOMAIN}/discovery/v2.0/keys"
    assert settings.client_auth == "none"


def test_the_subject_is_the_tenant_wide_oid_not_the_pairwise_sub(app, entra):
    via_confidential = build_connector(app, entra_table(entra)).verify(ALICE, ALICE_PASSWORD)
    via_public = build_connector(app, entra_table(entra, entra.public)).verify(ALICE, ALICE_PASSWORD)

    assert via_confidential.subject == via_public.subject == alice(entra).oid
    assert via_confidential.claims["sub"] != via_public.claims["sub"]  # pairwise per app
    bob = build_connector(app, entra_table(entra)).verify("bob@contoso.com", "builder-1998")
    assert bob.subject != via_confidential.subject


def test_subject_claim_is_configurable(app, entra):
    identity = build_connector(app, entra_table(entra, subject_claim="sub")).verify(
        ALICE, ALICE_PASSWORD)
    assert identity.subject == entra.pairwise_sub(alice(entra), entra.confidential.client_id)


def test_the_tenant_may_be_one_of_its_domains(app, entra):
    identity = build_connector(app, entra_table(entra, tenant=TENANT_DOMAIN.upper())).verify(
        ALICE, ALICE_PASSWORD)
    assert identity.subject == alice(entra).oid
    assert entra.calls(f"/{TENANT_DOMAIN}/oauth2/v2.0/token")


def test_the_profile_comes_from_the_id_token_claims(app, entra):
    identity = build_connector(app, entra_table(entra)).verify(ALICE, ALICE_PASSWORD)
    claims = identity.claims
    assert (claims["email"], claims["preferred_username"], claims["name"]) == (
        ALICE, ALICE, "Alice Liddell")
    assert (claims["given_name"], claims["family_name"], claims["tid"]) == (
        "Alice", "Liddell", entra.tenant_id)
    # A user without a mailbox has no email claim; map preferred_username for such tenants.
    nora = build_connector(app, entra_table(
        entra, mapping={"email": "preferred_username|lower"})).verify("nomail@contoso.com", "no-mailbox-3")
    assert "email" not in nora.claims and nora.claims["preferred_username"] == "nomail@contoso.com"


@pytest.mark.parametrize(("table", "problem"), [
    ({"tenant": "common"}, "not one tenant"),
    ({"tenant": "organizations"}, "not one tenant"),
    ({"tenant": "Consumers"}, "not one tenant"),
    ({"tenant": "contoso onmicrosoft"}, "tenant"),
    ({"tenant": TENANT_DOMAIN, "scope": "profile email"}, "openid"),
    ({"tenant": TENANT_DOMAIN, "authority": "login.microsoftonline.com"}, "http"),
    ({"tenant": TENANT_DOMAIN, "token_url": "https://elsewhere/token"}, "unknown setting"),
    ({"client_id": "x"}, "tenant"),
])
def test_bad_settings_fail_at_start_up(app, table, problem):
    with pytest.raises(ConfigError) as invalid:
        build_connector(app, {"type": "entra", "client_id": "x", **table})
    assert problem in str(invalid.value)


# -- how AADSTS codes map ------------------------------------------------------------------------
def test_wrong_password_and_unknown_user(app, entra):
    connector = build_connector(app, entra_table(entra))
    with pytest.raises(InvalidCredentials) as wrong:
        connector.verify(ALICE, "not-her-password")
    assert not isinstance(wrong.value, UserNotFound)
    with pytest.raises(UserNotFound):  # AADSTS50034: a journey may try the next source
        connector.verify("nobody@contoso.com", ALICE_PASSWORD)


@pytest.mark.parametrize(("identifier", "password", "reason"), [
    ("dave@contoso.com", "disabled-2001", "disabled"),  # AADSTS50057
    ("erin@contoso.com", "expired-2019", "password_expired"),  # AADSTS50055
])
def test_blocked_accounts(app, entra, identifier, password, reason):
    with pytest.raises(AccountBlocked) as blocked:
        build_connector(app, entra_table(entra)).verify(identifier, password)
    assert blocked.value.reason == reason


def test_smart_lockout_is_locked(app):
    with EntraFake(lockout_threshold=3) as fake:
        connector = build_connector(app, entra_table(fake))
        for _ in range(3):
            with pytest.raises(InvalidCredentials):
                connector.verify(ALICE, "guess")
        with pytest.raises(AccountBlocked) as blocked:  # AADSTS50053, even with the password
            connector.verify(ALICE, ALICE_PASSWORD)
        assert blocked.value.reason == "locked"


def test_a_blocked_ip_address_is_ferrys_not_the_users(app, entra):
    body = aadsts_body("invalid_grant", 50053)
    body["error_description"] = ("AADSTS50053: Sign-in was blocked because it came from an IP "
                                 "address with malicious activity\r\nTrace ID: 1")
    entra.faults[entra.token_path()] = Fault(400, json.dumps(body))
    with pytest.raises(LegacyUnavailable) as unavailable:
        build_connector(app, entra_table(entra)).verify(ALICE, ALICE_PASSWORD)
    assert "IP address" in unavailable.value.reason


def test_a_user_entra_wants_mfa_for_cannot_migrate_by_password(app, entra):
    with pytest.raises(LegacyUnavailable) as unavailable:
        build_connector(app, entra_table(entra)).verify(MALLORY, MALLORY_PASSWORD)
    assert "AADSTS50076" in unavailable.value.reason and "oidc" in unavailable.value.reason


@pytest.mark.parametrize(("change", "code"), [
    (lambda fake, table: table.update(client_secret="not-the-secret"), "AADSTS7000215"),
    (lambda fake, table: table.pop("client_secret"), "AADSTS7000218"),
    (lambda fake, table: table.update(client_id="11111111-2222-3333-4444-555555555555"),
     "AADSTS700016"),
    (lambda fake, table: table.update(tenant="fabrikam.onmicrosoft.com"), "AADSTS90002"),
    (lambda fake, table: setattr(fake.confidential, "consented", False), "AADSTS65001"),
])
def test_ferrys_own_misconfiguration_is_unavailable(app, entra, change, code):
    table = entra_table(entra)
    change(entra, table)
    with pytest.raises(LegacyUnavailable) as unavailable:
        build_connector(app, table).verify(ALICE, ALICE_PASSWORD)
    assert code in unavailable.value.reason
    assert entra.confidential.client_secret not in unavailable.value.reason


def test_codes_are_read_from_the_description_when_error_codes_is_missing(app, entra):
    body = aadsts_body("invalid_grant", 50057)
    del body["error_codes"]
    entra.faults[entra.token_path()] = Fault(400, json.dumps(body))
    with pytest.raises(AccountBlocked) as blocked:
        build_connector(app, entra_table(entra)).verify(ALICE, ALICE_PASSWORD)
    assert blocked.value.reason == "disabled"


# -- the ID token ----------------------------------------------------------------------------------
def forged(fake: EntraFake, **claims) -> str:
    """An ID token with alice's claims, signed by a key that is not the tenant's."""
    key = RSAKey.generate_key(2048, parameters={"kid": fake.signing_key.kid})
    payload = {"aud": fake.confidential.client_id, "iss": f"{fake.authority}/{fake.tenant_id}/v2.0",
               "tid": fake.tenant_id, "oid": alice(fake).oid, "email": ALICE,
               "exp": int(time.time()) + 600, **claims}
    return jwt.encode({"alg": "RS256", "kid": key.kid}, payload, key)


def token_answer(id_token: str | None) -> Fault:
    body = {"token_type": "Bearer", "access_token": "at", "expires_in": 3600, "scope": "profile"}
    if id_token:
        body["id_token"] = id_token
    return Fault(200, json.dumps(body))


@pytest.mark.parametrize(("tamper", "reason"), [
    (lambda fake: fake.faults.update({fake.token_path(): token_answer(forged(fake))}), "id_token"),
    (lambda fake: fake.faults.update({fake.token_path(): token_answer(None)}), "without an id_token"),
    (lambda fake: setattr(fake, "token_lifetime", -60), "ExpiredTokenError"),
    (lambda fake: fake.claims_override.update(aud="another-app"), "id_token"),
    (lambda fake: fake.claims_override.update(
        tid="00000000-0000-0000-0000-000000000000",
        iss=f"{fake.authority}/00000000-0000-0000-0000-000000000000/v2.0"), "another tenant"),
    (lambda fake: fake.claims_override.update(
        iss=f"https://sts.windows.net/{fake.tenant_id}/"), "iss"),
    (lambda fake: fake.faults.update({fake.keys_path(): Fault(500, "oops", "text/plain")}),
     "jwks_uri answered 500"),
])
def test_an_untrustworthy_id_token_is_refused(app, entra, tamper, reason):
    tamper(entra)
    with pytest.raises(LegacyUnavailable) as unavailable:
        build_connector(app, entra_table(entra)).verify(ALICE, ALICE_PASSWORD)
    assert reason in unavailable.value.reason


def test_without_verification_the_keys_are_not_fetched_but_aud_and_iss_still_count(app, entra):
    connector = build_connector(app, entra_table(entra, verify_id_token=False))
    assert connector.verify(ALICE, ALICE_PASSWORD).subject == alice(entra).oid
    assert entra.calls(entra.keys_path()) == []
    entra.claims_override["aud"] = "another-app"
    with pytest.raises(LegacyUnavailable):
        connector.verify(ALICE, ALICE_PASSWORD)


def test_a_key_rotation_is_followed(app, entra):
    connector = build_connector(app, entra_table(entra))
    connector.verify(ALICE, ALICE_PASSWORD)
    entra.rotate_keys()
    assert connector.verify(ALICE, ALICE_PASSWORD).subject == alice(entra).oid
    assert len(entra.calls(entra.keys_path())) == 2  # fetched again once, for the new kid


# -- the legacy side misbehaving --------------------------------------------------------------------
FAILURES = {
    "500": (Fault(500, '{"error":"server_error"}'), "500"),
    "503-html": (Fault(503, "<h1>Service Unavailable</h1>", "text/html"), "503"),
    "200-html": (Fault(200, "<html><body>Sign in to your account</body></html>", "text/html"),
                 "not JSON"),
    "429-throttled": (Fault(429, '{"error":"temporarily_unavailable"}'), "429"),
    "200-without-access-token": (Fault(200, '{"token_type":"Bearer","id_token":"x"}'),
                                 "access_token"),
    "hang": (Fault(hang=True), "timed out"),
}


@pytest.mark.parametrize("failure", list(FAILURES))
def test_a_misbehaving_token_endpoint_is_unavailable(app, entra, failure):
    fault, reason = FAILURES[failure]
    entra.faults[entra.token_path()] = fault
    with pytest.raises(LegacyUnavailable) as unavailable:
        build_connector(app, entra_table(entra)).verify(ALICE, ALICE_PASSWORD)
    assert reason in unavailable.value.reason


def test_a_tls_failure_is_unavailable(app, entra):
    table = entra_table(entra, authority=entra.authority.replace("http:", "https:"))
    with pytest.raises(LegacyUnavailable) as unavailable:
        build_connector(app, table).verify(ALICE, ALICE_PASSWORD)
    assert "TLS" in unavailable.value.reason


def test_extra_claims_and_fields_are_ignored(app, entra):
    entra.claims_override.update(wids=["b79fbf4d-3ef9-4689-8143-76b194e85509"], xms_tcdt=1)
    identity = build_connector(app, entra_table(entra)).verify(ALICE, ALICE_PASSWORD)
    assert identity.subject == alice(entra).oid and identity.claims["xms_tcdt"] == 1


# -- whole sign-ins ---------------------------------------------------------------------------------
def test_a_user_migrates_from_entra(make_app, entra):
    app = ferry(make_app, entra)
    walker = SignIn(app.test_client())

    walker.code_from(walker.sign_in(ALICE, ALICE_PASSWORD))

    with app.app_context(), db.connection_context():
        user = User.get(User.email == ALICE)
        link = LegacyLink.get(LegacyLink.user == user)
    assert (user.given_name, user.family_name, user.name) == ("Alice", "Liddell", "Alice Liddell")
    assert (link.connector, link.subject) == ("corp-entra", alice(entra).oid)


def test_an_mfa_user_is_told_to_try_later_and_nothing_is_created_or_counted(make_app, entra):
    app = ferry(make_app, entra)
    answer = SignIn(app.test_client()).sign_in(MALLORY, MALLORY_PASSWORD)
    assert answer.status_code == 200 and UNAVAILABLE in page_text(answer)
    assert count_users(app) == 0
    assert retry_after(app, MALLORY) == 0


@pytest.mark.parametrize(("identifier", "password", "says"), [
    (ALICE, "not-her-password", WRONG_CREDENTIALS),
    ("nobody@contoso.com", ALICE_PASSWORD, WRONG_CREDENTIALS),
    ("dave@contoso.com", "disabled-2001", "Your account is disabled"),
    ("erin@contoso.com", "expired-2019", "Your password has expired"),
])
def test_a_refused_sign_in_creates_no_user(make_app, entra, identifier, password, says):
    app = ferry(make_app, entra)
    answer = SignIn(app.test_client()).sign_in(identifier, password)
    assert answer.status_code == 200 and says in page_text(answer)
    assert count_users(app) == 0


def test_an_entra_outage_is_try_again_later_and_not_counted(make_app, entra):
    app = ferry(make_app, entra)
    with entra.stopped():
        answer = SignIn(app.test_client()).sign_in(ALICE, ALICE_PASSWORD)
    assert answer.status_code == 200 and UNAVAILABLE in page_text(answer)
    assert count_users(app) == 0 and retry_after(app, ALICE) == 0
