"""The ``cognito`` connector against a real Cognito user pool API: moto's server on loopback.

moto answers like Cognito for the password, unknown, disabled, unconfirmed and
temporary-password users and for TOTP and SMS MFA (see ``tests/peers/cognito.py``). What it
cannot do (5xx, throttling, HTML, hangs on one call, TLS, answers of the wrong shape, and the
refusals it does not implement) a :class:`ScriptedIdp` plays, speaking Cognito's JSON protocol:
one ``POST /`` per call, the operation in ``X-Amz-Target``, errors as ``{"__type", "message"}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from connectors import (
    AccountBlocked,
    InvalidCredentials,
    LegacyUnavailable,
    MfaRequired,
    UserNotFound,
)
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
from tests.connectors.contract import (
    ContractCase,
    PasswordConnectorContract,
    build_connector,
    log_text,
)
from tests.connectors.scripted_idp import TLS_HANDSHAKE, Recorded, Reply, ScriptedIdp, closed_port_url
from tests.peers.cognito import MotoCognito, Pool

ALICE, BOB = "alice@example.com", "bob@example.com"
DAVE = "dave@example.com"  # disabled
FRED = "fred@example.com"  # still on the temporary password of AdminCreateUser
UMA = "uma@example.com"  # signed up, never confirmed
TINA = "tina@example.com"  # authenticator app (TOTP) MFA
SAM = "sam@example.com"  # SMS MFA
PASSWORDS = {ALICE: "Alice-Pass-1!", BOB: "Bob-Pass-1!", DAVE: "Dave-Pass-1!",
             FRED: "Fred-Temp-1!", UMA: "Uma-Pass-1!", TINA: "Tina-Pass-1!", SAM: "Sam-Pass-1!"}

CODE_PAGE = "Verification code"
WRONG_CODE = "That code is not right"
DISABLED = "Your account is disabled"
NEW_PASSWORD = "You need to choose a new password"


@pytest.fixture(scope="session")
def cognito():
    with MotoCognito() as server:
        yield server


@pytest.fixture(scope="session")
def pool(cognito) -> Pool:
    pool = cognito.pool(Schema=[{"Name": "employee_id", "AttributeDataType": "String",
                                 "Mutable": True}])
    pool.user(ALICE, PASSWORDS[ALICE], email="Alice@Example.com", given_name="Alice",
              family_name="Liddell", **{"custom:employee_id": "E-42"})
    pool.user(BOB, PASSWORDS[BOB], given_name="Bob")
    pool.disabled_user(DAVE, PASSWORDS[DAVE])
    pool.user(FRED, PASSWORDS[FRED], permanent=False)
    pool.unconfirmed_user(UMA, PASSWORDS[UMA])
    pool.totp_user(TINA, PASSWORDS[TINA], given_name="Tina")
    pool.sms_user(SAM, PASSWORDS[SAM])
    return pool


def cognito_connector(cognito: MotoCognito, pool: Pool, **settings) -> dict:
    table = {
        "type": "cognito", "user_pool_id": pool.id, "client_id": pool.client_id,
        "client_secret": pool.client_secret, "endpoint_url": cognito.url,
        "connect_timeout": 0.5, "read_timeout": 0.5, **settings,
    }
    return {key: value for key, value in table.items() if value is not None}


@pytest.fixture
def connector(app, cognito, pool):
    return build_connector(app, cognito_connector(cognito, pool))


@pytest.fixture
def ferry(make_app, cognito, pool):
    return make_app(DEPLOYMENT=deployment({"legacy": cognito_connector(cognito, pool)}),
                    FAILED_SIGNINS_PER_IDENTIFIER="2 per 15 minutes")


class TestCognitoContract(PasswordConnectorContract):
    @pytest.fixture
    def contract_case(self, connector, cognito, pool):
        return ContractCase(
            connector=connector, identifier=ALICE, password=PASSWORDS[ALICE],
            wrong_password=PASSWORDS[ALICE] + "x", unknown_identifier="nobody@example.com",
            expected_email=ALICE, outage=cognito.frozen, secrets=(pool.client_secret,),
        )


def secret_hash(secret: str, client_id: str, username: str) -> str:
    """AWS's documented SECRET_HASH, computed apart from the connector's own."""
    digest = hmac.new(secret.encode(), (username + client_id).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def migrated(app, email: str) -> tuple[User, LegacyLink, PasswordCredential | None]:
    with app.app_context(), db.connection_context():
        user = User.get(User.email == email)
        return user, LegacyLink.get(LegacyLink.user == user), PasswordCredential.get_or_none(
            PasswordCredential.user == user)


# -- against moto: the answers Cognito gives -------------------------------------------------
def test_the_subject_is_the_sub_attribute_and_the_claims_are_the_attributes(connector, pool):
    alice = connector.verify(ALICE, PASSWORDS[ALICE])
    bob = connector.verify(BOB, PASSWORDS[BOB])

    assert alice.subject == pool.subs[ALICE] and bob.subject == pool.subs[BOB]
    assert alice.subject != bob.subject
    assert alice.claims == {
        "sub": pool.subs[ALICE], "email": "Alice@Example.com", "email_verified": "true",
        "given_name": "Alice", "family_name": "Liddell", "custom:employee_id": "E-42",
        "cognito:username": ALICE,
    }


def test_an_unknown_user_is_user_not_found(connector):
    with pytest.raises(UserNotFound):
        connector.verify("nobody@example.com", "Whatever-1!")


@pytest.mark.parametrize(("username", "reason"), [
    pytest.param(DAVE, "disabled", id="disabled"),
    pytest.param(UMA, "disabled", id="unconfirmed-sign-up"),
    pytest.param(FRED, "password_change_required", id="temporary-password"),
])
def test_accounts_that_cannot_sign_in_at_cognito_are_blocked(connector, username, reason):
    with pytest.raises(AccountBlocked) as blocked:
        connector.verify(username, PASSWORDS[username])  # their real password
    assert blocked.value.reason == reason


def test_a_disabled_account_with_a_wrong_password_is_still_blocked(connector):
    # moto says "User is disabled." before it looks at the password, so the "disabled" notice
    # shows whatever password was typed (it tells anyone that the account exists and is off).
    with pytest.raises(AccountBlocked):
        connector.verify(DAVE, "not-daves-password")


def test_an_app_client_without_a_secret_sends_no_secret_hash(app, cognito, pool):
    client_id, secret = pool.app_client(secret=False)
    assert secret is None
    connector = build_connector(app, cognito_connector(cognito, pool, client_id=client_id,
                                                       client_secret=None))
    assert connector.verify(ALICE, PASSWORDS[ALICE]).subject == pool.subs[ALICE]
    with pytest.raises(InvalidCredentials):
        connector.verify(ALICE, "wrong")


def test_a_client_of_another_pool_is_ferrys_misconfiguration(app, cognito, pool):
    other = cognito.pool()
    other.user(ALICE, PASSWORDS[ALICE])
    table = cognito_connector(cognito, pool, client_id=other.client_id,
                              client_secret=other.client_secret)  # user_pool_id stays pool's
    with pytest.raises(LegacyUnavailable) as wrong:
        build_connector(app, table).verify(ALICE, PASSWORDS[ALICE])
    assert "another user pool" in wrong.value.reason and other.id in wrong.value.reason


def test_nobody_listening_is_unavailable(app, cognito, pool):
    table = cognito_connector(cognito, pool, endpoint_url=closed_port_url("/"))
    with pytest.raises(LegacyUnavailable) as down:
        build_connector(app, table).verify(ALICE, PASSWORDS[ALICE])
    assert "could not connect" in down.value.reason


def test_a_hanging_pool_times_out(connector, cognito):
    with cognito.frozen(), pytest.raises(LegacyUnavailable) as hung:
        connector.verify(ALICE, PASSWORDS[ALICE])
    assert "timed out" in hung.value.reason


# -- against moto: MFA ---------------------------------------------------------------------
def test_totp_mfa_is_asked_for_and_finished_with_the_code(connector, pool):
    with pytest.raises(MfaRequired) as challenge:
        connector.verify(TINA, PASSWORDS[TINA])
    assert challenge.value.factor == "totp"
    state = json.loads(json.dumps(challenge.value.state))  # as the journey run stores it
    assert state["challenge"] == "SOFTWARE_TOKEN_MFA" and state["username"] == TINA

    with pytest.raises(InvalidCredentials):
        connector.complete_mfa(state, pool.totp_code(offset_steps=10))  # not this step's code
    identity = connector.complete_mfa(state, pool.totp_code())  # the session outlives a typo

    assert identity.subject == pool.subs[TINA] and identity.claims["given_name"] == "Tina"
    with pytest.raises(LegacyUnavailable) as spent:  # one session, one sign-in
        connector.complete_mfa(state, pool.totp_code())
    assert "session" in spent.value.reason


def test_a_made_up_mfa_session_is_unavailable_not_a_wrong_code(connector, pool):
    state = {"session": "not-a-session", "username": TINA, "challenge": "SOFTWARE_TOKEN_MFA"}
    with pytest.raises(LegacyUnavailable):
        connector.complete_mfa(state, pool.totp_code())
    with pytest.raises(LegacyUnavailable):
        connector.complete_mfa({"username": TINA}, "123456")


def test_sms_mfa_sends_the_code_and_the_secret_hash_moto_checks(app, cognito, pool):
    # moto accepts any SMS code, but it checks SMS_MFA_CODE is there and the SECRET_HASH.
    connector = build_connector(app, cognito_connector(cognito, pool))
    with pytest.raises(MfaRequired) as challenge:
        connector.verify(SAM, PASSWORDS[SAM])
    assert challenge.value.factor == "sms"
    assert connector.complete_mfa(challenge.value.state, "123456").subject == pool.subs[SAM]

    # moto checks no SECRET_HASH on InitiateAuth (AWS does), so a wrong client secret shows
    # only here; it proves the hash above was the one the pool expects.
    wrong = build_connector(app, cognito_connector(cognito, pool, client_secret="not-the-secret"))
    with pytest.raises(MfaRequired) as challenge:
        wrong.verify(SAM, PASSWORDS[SAM])
    with pytest.raises(LegacyUnavailable) as refused:
        wrong.complete_mfa(challenge.value.state, "123456")
    assert "NotAuthorizedException" in refused.value.reason


# -- the whole sign-in, against moto --------------------------------------------------------
def test_a_cognito_user_migrates_with_the_mapped_profile(make_app, cognito, pool):
    mapping = {"email": "email", "email_verified": "email_verified|bool",
               "given_name": "given_name", "family_name": "family_name",
               "employee_id": "custom:employee_id"}
    app = make_app(DEPLOYMENT=deployment({"legacy": cognito_connector(cognito, pool,
                                                                      mapping=mapping)}))
    walker = SignIn(app.test_client())

    walker.code_from(walker.sign_in(ALICE, PASSWORDS[ALICE]))

    user, link, credential = migrated(app, ALICE)
    assert (user.given_name, user.family_name, user.email_verified) == ("Alice", "Liddell", True)
    assert user.attributes == {"employee_id": "E-42"}
    assert (link.connector, link.subject) == ("legacy", pool.subs[ALICE])
    assert credential is not None and PASSWORDS[ALICE] not in credential.hash
    # From now on Ferry alone signs her in: with Cognito hanging, it still works.
    with cognito.frozen():
        again = SignIn(app.test_client())
        again.code_from(again.sign_in(ALICE, PASSWORDS[ALICE]))


@pytest.mark.parametrize(("username", "password", "notice"), [
    pytest.param(ALICE, "not-alices-password", WRONG_CREDENTIALS, id="wrong-password"),
    pytest.param("nobody@example.com", "Whatever-1!", WRONG_CREDENTIALS, id="unknown-user"),
    pytest.param(DAVE, PASSWORDS[DAVE], DISABLED, id="disabled"),
    pytest.param(FRED, PASSWORDS[FRED], NEW_PASSWORD, id="temporary-password"),
])
def test_a_refused_sign_in_creates_no_user(ferry, username, password, notice):
    [answer] = sign_in_attempts(ferry, username, password, times=1)
    assert answer.status_code == 200 and notice in page_text(answer)
    assert count_users(ferry) == 0


def test_while_cognito_hangs_users_are_told_to_try_later_and_nothing_is_counted(ferry, cognito):
    with cognito.frozen():
        answers = sign_in_attempts(ferry, ALICE, PASSWORDS[ALICE], times=3)
    assert all(a.status_code == 200 and UNAVAILABLE in page_text(a) for a in answers)
    assert count_users(ferry) == 0
    assert retry_after(ferry, ALICE) == 0


def test_a_totp_user_migrates_only_after_the_code(ferry, pool):
    walker = SignIn(ferry.test_client())

    asked = walker.sign_in(TINA, PASSWORDS[TINA])
    assert asked.status_code == 200 and CODE_PAGE in page_text(asked)
    assert count_users(ferry) == 0  # not on the password alone

    typo = walker.post(code=pool.totp_code(offset_steps=-10))
    assert typo.status_code == 200 and WRONG_CODE in page_text(typo)
    assert count_users(ferry) == 0

    walker.code_from(walker.post(code=pool.totp_code()))
    user, link, credential = migrated(ferry, TINA)
    assert user.given_name == "Tina" and link.subject == pool.subs[TINA]
    assert credential is not None  # the password typed before the code was kept


def test_an_sms_user_is_asked_for_the_texted_code(ferry, pool):
    walker = SignIn(ferry.test_client())
    asked = walker.sign_in(SAM, PASSWORDS[SAM])
    assert "the code we sent to your phone" in page_text(asked)
    walker.code_from(walker.post(code="424242"))
    assert migrated(ferry, SAM)[1].subject == pool.subs[SAM]


# -- a scripted pool: what moto cannot be made to do ----------------------------------------
TARGET = "AWSCognitoIdentityProviderService."
AMZ_JSON = "application/x-amz-json-1.1"
POOL_ID = "eu-west-1_Scripted1"
CLIENT_ID, CLIENT_SECRET = "scriptedclient", "scripted-client-secret"
PASSWORD = "correct horse battery staple"
SESSION = "scripted-session-0123456789"


def access_token(issuer_pool: str = POOL_ID) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    claims = {"iss": f"https://cognito-idp.eu-west-1.amazonaws.com/{issuer_pool}", "sub": "u-42",
              "client_id": CLIENT_ID, "token_use": "access"}
    return f"{part({'alg': 'RS256', 'kid': 'k'})}.{part(claims)}.c2ln"


def error(code: str, message: str, status: int = 400) -> Reply:
    return Reply(status, {"__type": code, "message": message}, AMZ_JSON)


TOKENS = Reply(200, {"AuthenticationResult": {"AccessToken": access_token(), "IdToken": "x.y.z",
                                              "ExpiresIn": 3600, "TokenType": "Bearer"},
                     "ChallengeParameters": {}}, AMZ_JSON)
USER = Reply(200, {"Username": "alice", "UserAttributes": [
    {"Name": "sub", "Value": "u-42"}, {"Name": "email", "Value": ALICE},
    {"Name": "email_verified", "Value": "true"}, {"Name": "given_name", "Value": "Alice"}],
    "MFAOptions": [], "UserMFASettingList": []}, AMZ_JSON)


def challenge(name: str, **parameters: str) -> Reply:
    return Reply(200, {"ChallengeName": name, "Session": SESSION,
                       "ChallengeParameters": parameters}, AMZ_JSON)


def by_operation(replies: dict[str, Reply]) -> Callable[[Recorded], Reply]:
    """One route for ``POST /`` answering per operation (``X-Amz-Target``), read at each call."""
    def answer(request: Recorded) -> Reply:
        operation = request.headers.get("X-Amz-Target", "").removeprefix(TARGET)
        return replies.get(operation, error("InvalidParameterException", f"no {operation}"))
    return answer


@pytest.fixture
def scripted(scripted_idp):
    """The scripted pool answering like a healthy one; a test then breaks one part."""
    scripted_idp.replies = {"InitiateAuth": TOKENS, "GetUser": USER}  # tests change them
    scripted_idp.routes["/"] = by_operation(scripted_idp.replies)
    return scripted_idp


def scripted_table(idp: ScriptedIdp, **settings) -> dict:
    return {"type": "cognito", "user_pool_id": POOL_ID, "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "endpoint_url": idp.base_url,
            "connect_timeout": 0.5, "read_timeout": 0.5, **settings}


def calls(idp: ScriptedIdp, operation: str) -> list[dict]:
    return [json.loads(r.body) for r in idp.calls("/")
            if r.headers.get("X-Amz-Target") == TARGET + operation]


def test_the_scripted_pool_signs_in_when_healthy_and_extra_fields_are_ignored(app, scripted):
    """The control for every failure below, and what each call carries."""
    identity = build_connector(app, scripted_table(scripted)).verify(ALICE, PASSWORD)

    assert identity.subject == "u-42" and identity.claims["cognito:username"] == "alice"
    [initiate] = calls(scripted, "InitiateAuth")
    assert initiate == {"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": CLIENT_ID, "AuthParameters": {
        "USERNAME": ALICE, "PASSWORD": PASSWORD,
        "SECRET_HASH": secret_hash(CLIENT_SECRET, CLIENT_ID, ALICE)}}
    assert calls(scripted, "GetUser") == [{"AccessToken": access_token()}]
    request = scripted.calls("/")[0]
    assert "Authorization" not in request.headers  # unsigned: no AWS credentials needed
    assert "Ferry" in request.headers["User-Agent"]


@dataclass(frozen=True)
class Failure:
    reason: str  # what the operator's reason mentions
    replies: dict[str, Reply] = field(default_factory=dict)
    settings: Callable[[ScriptedIdp], dict] = lambda idp: {}


FAILURES = {
    "500-html": Failure("500", {"InitiateAuth": Reply(500, "<h1>Oops</h1>", "text/html")}),
    "502-from-a-proxy": Failure("502", {"InitiateAuth": Reply(502, "<h1>Bad gateway</h1>",
                                                              "text/html")}),
    "internal-error": Failure("InternalErrorException", {"InitiateAuth": error(
        "InternalErrorException", "Internal server error", 500)}),
    "throttled": Failure("TooManyRequestsException", {"InitiateAuth": error(
        "TooManyRequestsException", "Too many requests")}),
    "200-html": Failure("text/html", {"InitiateAuth": Reply(200, "<html>Sign in</html>",
                                                            "text/html")}),
    "200-empty-object": Failure("without AuthenticationResult", {"InitiateAuth": Reply(
        200, {}, AMZ_JSON)}),
    "200-json-list": Failure("InitiateAuth", {"InitiateAuth": Reply(200, [1, 2], AMZ_JSON)}),
    "tokens-without-access-token": Failure("AccessToken", {"InitiateAuth": Reply(
        200, {"AuthenticationResult": {"IdToken": "x.y.z"}}, AMZ_JSON)}),
    "access-token-not-a-jwt": Failure("not a Cognito JWT", {"InitiateAuth": Reply(
        200, {"AuthenticationResult": {"AccessToken": "opaque"}}, AMZ_JSON)}),
    "wrong-secret-hash": Failure("secret hash", {"InitiateAuth": error(
        "NotAuthorizedException", f"Unable to verify secret hash for client {CLIENT_ID}")}),
    "password-flow-not-enabled": Failure("USER_PASSWORD_AUTH", {"InitiateAuth": error(
        "InvalidParameterException", "USER_PASSWORD_AUTH flow not enabled for this client")}),
    "unknown-client": Failure("ResourceNotFoundException", {"InitiateAuth": error(
        "ResourceNotFoundException", "User pool client scriptedclient does not exist.")}),
    "lambda-broken": Failure("UnexpectedLambdaException", {"InitiateAuth": error(
        "UnexpectedLambdaException", "PreAuthentication invocation failed due to error "
        "AccessDeniedException.")}),
    "unanswerable-challenge": Failure("CUSTOM_CHALLENGE", {"InitiateAuth": challenge(
        "CUSTOM_CHALLENGE")}),
    "get-user-500": Failure("GetUser", {"GetUser": error("InternalErrorException", "boom", 500)}),
    "get-user-refused": Failure("NotAuthorizedException", {"GetUser": error(
        "NotAuthorizedException", "Access Token has been revoked")}),
    "get-user-without-sub": Failure("'sub'", {"GetUser": Reply(200, {"Username": "alice",
        "UserAttributes": [{"Name": "email", "Value": ALICE}]}, AMZ_JSON)}),
    "get-user-without-attributes": Failure("UserAttributes", {"GetUser": Reply(
        200, {"Username": "alice"}, AMZ_JSON)}),
    "get-user-attributes-not-a-list": Failure("not Cognito's answer", {"GetUser": Reply(
        200, {"UserAttributes": "sub=u-42"}, AMZ_JSON)}),
    "get-user-malformed-attribute": Failure("malformed", {"GetUser": Reply(
        200, {"UserAttributes": [{"Value": "u-42"}]}, AMZ_JSON)}),
    "hangs": Failure("timed out", {"InitiateAuth": Reply(hang=True)}),
    "tls-failure": Failure("TLS", settings=lambda idp: {
        "endpoint_url": idp.base_url.replace("http:", "https:")}),
}


@pytest.fixture(params=list(FAILURES), ids=list(FAILURES))
def failing(request, scripted):
    failure = FAILURES[request.param]
    scripted.replies.update(failure.replies)
    return scripted, scripted_table(scripted, **failure.settings(scripted)), failure


def test_the_connector_says_unavailable(app, failing):
    idp, table, failure = failing
    with pytest.raises(LegacyUnavailable) as unavailable:
        build_connector(app, table).verify(ALICE, PASSWORD)
    assert failure.reason in unavailable.value.reason
    assert len(idp.calls(TLS_HANDSHAKE if "TLS" in failure.reason else "/")) >= 1


def test_the_user_is_told_to_try_later_and_nothing_changes(make_app, failing, caplog):
    idp, table, failure = failing
    caplog.set_level(logging.DEBUG)
    ferry = make_app(DEPLOYMENT=deployment({"legacy": table}),
                     FAILED_SIGNINS_PER_IDENTIFIER="2 per 15 minutes")

    answers = sign_in_attempts(ferry, ALICE, PASSWORD, times=3)  # more than the limit allows

    assert all(a.status_code == 200 and UNAVAILABLE in page_text(a) for a in answers)
    assert count_users(ferry) == 0
    assert retry_after(ferry, ALICE) == 0, "an outage counted against the user"
    logged = log_text(caplog.records)
    assert PASSWORD not in logged and CLIENT_SECRET not in logged


@pytest.mark.parametrize(("reply", "reason"), [
    pytest.param(error("PasswordResetRequiredException", "Password reset required for the user"),
                 "password_change_required", id="password-reset-required"),
    pytest.param(error("NotAuthorizedException", "Password attempts exceeded"), "locked",
                 id="password-attempts-exceeded"),
    pytest.param(error("NotAuthorizedException", "Temporary password has expired and must be "
                       "reset by an administrator."), "password_expired",
                 id="temporary-password-expired"),
    pytest.param(error("UserLambdaValidationException", "PreAuthentication failed with error "
                       "Not allowed."), "disabled", id="pre-authentication-trigger-refused"),
    pytest.param(challenge("MFA_SETUP", MFAS_CAN_SETUP='["SOFTWARE_TOKEN_MFA"]'), "disabled",
                 id="mfa-setup-required"),
])
def test_refusals_moto_does_not_implement_are_blocked_accounts(app, scripted, reply, reason):
    scripted.replies["InitiateAuth"] = reply
    with pytest.raises(AccountBlocked) as blocked:
        build_connector(app, scripted_table(scripted)).verify(ALICE, PASSWORD)
    assert blocked.value.reason == reason
    assert calls(scripted, "GetUser") == []


def test_an_alias_sign_in_answers_the_challenge_with_the_pools_username(app, scripted):
    # Signing in with an e-mail alias: the challenge must name the user by USER_ID_FOR_SRP,
    # and the SECRET_HASH must be computed with it.
    scripted.replies["InitiateAuth"] = challenge("SOFTWARE_TOKEN_MFA", USER_ID_FOR_SRP="u-42")
    scripted.replies["RespondToAuthChallenge"] = TOKENS
    connector = build_connector(app, scripted_table(scripted))

    with pytest.raises(MfaRequired) as asked:
        connector.verify(ALICE, PASSWORD)
    assert connector.complete_mfa(asked.value.state, "123456").subject == "u-42"

    [respond] = calls(scripted, "RespondToAuthChallenge")
    assert respond == {
        "ClientId": CLIENT_ID, "ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": SESSION,
        "ChallengeResponses": {"USERNAME": "u-42", "SOFTWARE_TOKEN_MFA_CODE": "123456",
                               "SECRET_HASH": secret_hash(CLIENT_SECRET, CLIENT_ID, "u-42")}}


def test_select_mfa_type_picks_the_authenticator_app(app, scripted):
    scripted.replies["InitiateAuth"] = challenge(
        "SELECT_MFA_TYPE", MFAS_CAN_CHOOSE='["SMS_MFA","SOFTWARE_TOKEN_MFA"]')
    scripted.replies["RespondToAuthChallenge"] = challenge("SOFTWARE_TOKEN_MFA")

    with pytest.raises(MfaRequired) as asked:
        build_connector(app, scripted_table(scripted)).verify(ALICE, PASSWORD)

    assert asked.value.factor == "totp"
    [select] = calls(scripted, "RespondToAuthChallenge")
    assert select["ChallengeName"] == "SELECT_MFA_TYPE"
    assert select["ChallengeResponses"] == {
        "USERNAME": ALICE, "ANSWER": "SOFTWARE_TOKEN_MFA",
        "SECRET_HASH": secret_hash(CLIENT_SECRET, CLIENT_ID, ALICE)}


def test_email_otp_mfa_asks_for_the_mailed_code(app, scripted):
    scripted.replies["InitiateAuth"] = challenge("EMAIL_OTP", CODE_DELIVERY_DESTINATION="a***@e***")
    scripted.replies["RespondToAuthChallenge"] = TOKENS
    connector = build_connector(app, scripted_table(scripted))
    with pytest.raises(MfaRequired) as asked:
        connector.verify(ALICE, PASSWORD)
    assert asked.value.factor == "email"
    connector.complete_mfa(asked.value.state, "98765432")
    [respond] = calls(scripted, "RespondToAuthChallenge")
    assert respond["ChallengeResponses"]["EMAIL_OTP_CODE"] == "98765432"


@pytest.mark.parametrize(("reply", "expected"), [
    pytest.param(error("CodeMismatchException", "Invalid code or auth state for the user."),
                 InvalidCredentials, id="code-mismatch"),
    pytest.param(error("ExpiredCodeException", "Your software token has already been used once."),
                 InvalidCredentials, id="code-already-used"),
    pytest.param(error("NotAuthorizedException", "Invalid session for the user, session is "
                       "expired."), LegacyUnavailable, id="session-expired"),
    pytest.param(error("TooManyRequestsException", "Too many requests"), LegacyUnavailable,
                 id="throttled"),
    pytest.param(Reply(503, "<h1>Unavailable</h1>", "text/html"), LegacyUnavailable, id="503"),
    pytest.param(challenge("NEW_PASSWORD_REQUIRED"), LegacyUnavailable, id="another-challenge"),
    pytest.param(Reply(hang=True), LegacyUnavailable, id="hangs"),
])
def test_finishing_mfa_tells_a_wrong_code_from_a_broken_challenge(app, scripted, reply, expected):
    scripted.replies["RespondToAuthChallenge"] = reply
    state = {"session": SESSION, "username": ALICE, "challenge": "SOFTWARE_TOKEN_MFA"}
    with pytest.raises(expected) as raised:
        build_connector(app, scripted_table(scripted)).complete_mfa(state, "123456")
    assert type(raised.value) is expected  # not AccountBlocked, which legacy_mfa cannot route


def test_nothing_secret_reaches_the_log_even_at_debug_level(app, scripted, caplog):
    """botocore logs request and response bodies at DEBUG; the connector silences them."""
    scripted.replies["InitiateAuth"] = challenge("SOFTWARE_TOKEN_MFA")
    scripted.replies["RespondToAuthChallenge"] = error(
        "InvalidParameterException", "Bad value scripted-session-0123456789 for 654321")
    caplog.set_level(logging.DEBUG)
    connector = build_connector(app, scripted_table(scripted))
    with pytest.raises(MfaRequired) as asked:
        connector.verify(ALICE, PASSWORD)
    with pytest.raises(LegacyUnavailable) as refused:
        connector.complete_mfa(asked.value.state, "654321")

    logged = log_text(caplog.records) + refused.value.reason
    assert any(r.name.startswith("botocore") for r in caplog.records)  # the capture works
    for secret in (PASSWORD, CLIENT_SECRET, SESSION, "654321",
                   secret_hash(CLIENT_SECRET, CLIENT_ID, ALICE)):
        assert secret not in logged


@pytest.mark.parametrize(("settings", "problem"), [
    pytest.param({"user_pool_id": "not-a-pool"}, "user_pool_id", id="pool-id"),
    pytest.param({"region": "us-east-1"}, "region", id="region-of-another-pool"),
    pytest.param({"endpoint_url": "ftp://cognito"}, "endpoint_url", id="endpoint-url"),
    pytest.param({"client_id": None}, "client_id", id="no-client-id"),
    pytest.param({"userpool": "x"}, "unknown setting", id="typo"),
])
def test_settings_are_checked_at_start_up(make_app, settings, problem):
    from settings.errors import ConfigError

    table = {"type": "cognito", "user_pool_id": POOL_ID, "client_id": CLIENT_ID, **settings}
    table = {key: value for key, value in table.items() if value is not None}
    with pytest.raises(ConfigError) as invalid:
        make_app(DEPLOYMENT=deployment({"legacy": table}))
    assert problem in str(invalid.value)


def test_the_region_defaults_to_the_pools(app):
    connector = build_connector(app, {"type": "cognito", "user_pool_id": "ap-southeast-2_Abc123",
                                      "client_id": CLIENT_ID})
    assert connector.client.meta.region_name == "ap-southeast-2"
    assert connector.client.meta.endpoint_url == "https://cognito-idp.ap-southeast-2.amazonaws.com"
