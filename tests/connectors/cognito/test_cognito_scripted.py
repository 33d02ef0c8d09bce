"""The ``cognito`` connector against a scripted pool: what moto cannot be made to do (5xx,
throttling, HTML, hangs on one call, TLS, answers of the wrong shape, and the refusals it does not
implement), the MFA challenges it lacks, nothing secret logged, and the settings checked at start-
up."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from connectors import (
    AccountBlocked,
    InvalidCredentials,
    LegacyUnavailable,
    MfaRequired,
)
from tests.accounts import count_users
from tests.conftest import deployment
from tests.connectors.cognito.moto_pool import ALICE, secret_hash
from tests.connectors.cognito.scripted_pool import (
    AMZ_JSON,
    CLIENT_ID,
    CLIENT_SECRET,
    PASSWORD,
    POOL_ID,
    SESSION,
    TOKENS,
    access_token,
    calls,
    challenge,
    error,
    scripted_table,
)
from tests.connectors.conftest import (
    UNAVAILABLE,
    page_text,
    retry_after,
    sign_in_attempts,
)
from tests.connectors.contract import (
    build_connector,
    log_text,
)
from tests.connectors.scripted_idp import TLS_HANDSHAKE, Reply, ScriptedIdp


# -- a scripted pool: what moto cannot be made to do ----------------------------------------
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
