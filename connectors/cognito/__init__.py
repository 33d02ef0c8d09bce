"""Amazon Cognito user pools: type ``cognito``.

Ferry signs the user in with ``InitiateAuth`` (``AuthFlow=USER_PASSWORD_AUTH``) at the pool's
app client and reads the profile with ``GetUser`` and the access token it got back: the user
attributes become the claims (``email``, ``given_name``, ``custom:...``, and ``cognito:username``
for the pool's own username); the subject is the ``sub`` attribute. These are the pool's public
API operations: no AWS credentials and no IAM policy are needed, requests go unsigned.

Setup in the user pool (console: *App integration* > *App clients*):

1. Create an app client for Ferry (or use one) with the authentication flow
   ``ALLOW_USER_PASSWORD_AUTH`` enabled (``ExplicitAuthFlows``). A client secret is optional;
   if the client has one, give it to Ferry, which then sends ``SECRET_HASH`` on every call.
2. Give the client read access to the attributes you want to map (*Attribute read and write
   permissions*): ``email``, ``email_verified``, ``given_name``, ``family_name``...
3. Users with MFA at Cognito (authenticator app, SMS or e-mail codes) are asked for their code
   by Ferry's ``legacy_mfa`` step, so nobody migrates on a password alone.

Settings (``[connectors.<name>]``, ``type = "cognito"``):

* ``user_pool_id``: e.g. ``eu-west-1_AbCdEf123``; its prefix is the region.
* ``client_id``: the app client id.
* ``client_secret`` (optional; use ``"env:NAME"``): the app client's secret, if it has one.
* ``region`` (optional): the pool's AWS region; default, and must equal, ``user_pool_id``'s prefix.
* ``endpoint_url`` (optional): another endpoint than ``https://cognito-idp.<region>.amazonaws.com``
  (a VPC interface endpoint, FIPS endpoint, or a local test server).
* ``lookup``, ``aws_access_key_id``, ``aws_secret_access_key`` (optional): find users by e-mail
  without a password (``otp_send``'s ``lookup_connector``): see :mod:`connectors.cognito.lookup`.
* ``listing`` (default false): list the pool's users for ``ferry roster pull`` (ListUsers,
  signed with the AWS credentials above): see :mod:`connectors.cognito.listing`.
* ``mapping``, ``display_name``, ``connect_timeout``, ``read_timeout``, ``breaker_failures``,
  ``breaker_reset``, ``rate_limit``, ``send_identifier``: as every connector. Each call is tried
  once: the user is waiting, and the circuit breaker handles outages.

Outcomes:

* ``NotAuthorizedException`` "Incorrect username or password." is a wrong password (or an
  unknown user, when the pool's *Prevent user existence errors* is on);
  ``UserNotFoundException`` is an unknown user.
* Blocked accounts: ``User is disabled.`` and ``UserNotConfirmedException`` (the user never
  confirmed the sign-up) and a refusal by a pre-authentication Lambda trigger
  (``UserLambdaValidationException``) give ``disabled``; ``Password attempts exceeded`` gives
  ``locked``; ``PasswordResetRequiredException`` and the ``NEW_PASSWORD_REQUIRED`` challenge
  (a user still on the temporary password of ``AdminCreateUser``) give
  ``password_change_required``; an expired temporary password gives ``password_expired``;
  the ``MFA_SETUP`` challenge (the pool requires MFA and the user has none yet) gives
  ``disabled``: only the pool's administrators can help.
* ``SOFTWARE_TOKEN_MFA``, ``SMS_MFA`` and ``EMAIL_OTP`` challenges ask for the code
  (``SELECT_MFA_TYPE`` picks the authenticator app, else e-mail, else SMS); it is sent with
  ``RespondToAuthChallenge``. ``CodeMismatchException`` and ``ExpiredCodeException`` are a
  wrong code; an expired or spent session is unavailable (the user signs in again).
* Everything else is unavailable and logged for the operator: throttling
  (``TooManyRequestsException``), 5xx, timeouts, refused connections, TLS failures, answers that
  are not Cognito's, and errors that mean Ferry's settings are wrong (a wrong or missing client
  secret, ``USER_PASSWORD_AUTH`` not enabled, an unknown client id, another pool's client).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import logging
import re
import threading
from collections.abc import Callable
from typing import Any, NoReturn

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
    SSLError,
)

from connectors.base import (
    AccountBlocked,
    ExternalIdentity,
    InvalidCredentials,
    MfaRequired,
    PasswordConnector,
    UserNotFound,
)
from connectors.cognito.listing import CognitoListing
from connectors.cognito.lookup import CognitoLookup, filter_values
from connectors.cognito.settings import CognitoSettings
from connectors.http import USER_AGENT, LegacyHttp
from settings.errors import ConfigError

log = logging.getLogger(__name__)

#: MFA challenges Ferry can finish: challenge name -> (factor shown to the user, response key).
MFA_CHALLENGES = {
    "SOFTWARE_TOKEN_MFA": ("totp", "SOFTWARE_TOKEN_MFA_CODE"),
    "EMAIL_OTP": ("email", "EMAIL_OTP_CODE"),
    "SMS_MFA": ("sms", "SMS_MFA_CODE"),
}
#: Error codes that say "a wrong code", as opposed to a broken or spent challenge.
WRONG_CODE = ("CodeMismatchException", "ExpiredCodeException")
#: Error codes of a pool that asks Ferry to slow down (unavailable, but not a settings problem).
THROTTLED = ("TooManyRequestsException", "LimitExceededException", "ThrottlingException")

# botocore logs whole request and response bodies at DEBUG (passwords, codes, tokens, sessions).
# Drop its records below INFO at those two sources, whatever level an operator sets for botocore.
_BODY_LOGGERS = ("botocore.endpoint", "botocore.parsers")


def _info_and_above(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.INFO


for _name in _BODY_LOGGERS:
    logging.getLogger(_name).addFilter(_info_and_above)


_SESSION_LOCK = threading.Lock()


@functools.cache
def _session() -> boto3.session.Session:
    """One boto3 session for every instance: it loads Cognito's API model once, not per client."""
    return boto3.session.Session()


class CognitoConnector(CognitoListing, PasswordConnector):
    type = "cognito"
    Settings = CognitoSettings
    settings: CognitoSettings
    supports_lookup = True

    def __init__(self, name: str, settings: CognitoSettings, config: Any) -> None:
        super().__init__(name, settings, config)
        #: Every client's: one try (the breaker handles outages); sent through self.http.
        self.client_config = Config(
            connect_timeout=self.connect_timeout, read_timeout=self.read_timeout,
            retries={"total_max_attempts": 1, "mode": "standard"}, user_agent_extra=USER_AGENT,
        )
        unsigned = self.client_config.merge(Config(signature_version=botocore.UNSIGNED))  # public
        try:
            with _SESSION_LOCK:  # a boto3 Session is not thread-safe; its clients are
                self.client = _session().client("cognito-idp", region_name=settings.pool_region,
                                                endpoint_url=settings.endpoint_url, config=unsigned)
        except BotoCoreError as error:
            raise ConfigError(f"connectors.{name}: cannot build the Cognito client: {error}") from None
        self.http = LegacyHttp(name, self.connect_timeout, self.read_timeout, settings)
        self.client.meta.events.register_first("before-send", self.http.send_botocore)  # deadline
        # Looking users up needs the admin API and AWS credentials: say so per instance.
        self.supports_lookup = settings.lookup  # type: ignore[misc]
        #: The signed admin client (ListUsers): for the lookup, and for listing users.
        self.admin_api = CognitoLookup(self) if settings.lookup or settings.listing else None
        self.lookup_api = self.admin_api if settings.lookup else None

    # -- the password ---------------------------------------------------------------------
    def verify(self, identifier: str, password: str) -> ExternalIdentity:
        parameters = {"USERNAME": identifier, "PASSWORD": password}
        parameters.update(self.secret_hash_for(identifier))
        answer = self.call(
            "initiate_auth", self.refuse_sign_in,
            ClientId=self.settings.client_id, AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters=parameters,
        )
        return self.signed_in(answer, identifier)

    def signed_in(self, answer: dict[str, Any], username: str, selected: bool = False
                  ) -> ExternalIdentity:
        """The identity from an ``InitiateAuth`` answer, or the exception its challenge means."""
        if "AuthenticationResult" in answer:
            return self.identity(answer)
        challenge = answer.get("ChallengeName")
        if not isinstance(challenge, str):
            content_type = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get(
                "content-type", "none")
            raise self.unavailable("InitiateAuth answered without AuthenticationResult or "
                                   f"ChallengeName ({content_type})")
        parameters = answer.get("ChallengeParameters")
        parameters = parameters if isinstance(parameters, dict) else {}
        # With an alias (e-mail, phone) the challenge must name the pool's own username.
        username = parameters.get("USER_ID_FOR_SRP") or username
        if challenge == "NEW_PASSWORD_REQUIRED":
            raise AccountBlocked("password_change_required")
        if challenge == "MFA_SETUP":
            log.info("connector %s: the pool requires MFA and the user has none (MFA_SETUP)",
                     self.name)
            raise AccountBlocked("disabled")
        session = answer.get("Session")
        if challenge in MFA_CHALLENGES and isinstance(session, str) and session:
            raise MfaRequired({"session": session, "username": username, "challenge": challenge},
                              factor=MFA_CHALLENGES[challenge][0])
        if challenge == "SELECT_MFA_TYPE" and not selected and isinstance(session, str):
            return self.signed_in(self.select_mfa(session, username, parameters), username, True)
        raise self.unavailable(f"Cognito asked for the {challenge} challenge, which Ferry does not "
                               "answer (check the app client and the pool's MFA settings)")

    def select_mfa(self, session: str, username: str, parameters: dict[str, Any]) -> dict[str, Any]:
        """Answer ``SELECT_MFA_TYPE`` with the first factor in ``MFA_CHALLENGES`` on offer."""
        try:
            offered = json.loads(parameters.get("MFAS_CAN_CHOOSE") or "[]")
        except (TypeError, ValueError):
            offered = []
        choice = next((name for name in MFA_CHALLENGES if name in offered), None)
        if choice is None:
            raise self.unavailable(f"SELECT_MFA_TYPE offers no factor Ferry can ask for: {offered!r}")
        responses = {"USERNAME": username, "ANSWER": choice, **self.secret_hash_for(username)}
        return self.call(
            "respond_to_auth_challenge", self.refuse_nothing,
            ClientId=self.settings.client_id, ChallengeName="SELECT_MFA_TYPE", Session=session,
            ChallengeResponses=responses,
        )

    def refuse_sign_in(self, code: str, message: str) -> None:
        """Raise what a Cognito refusal of the password means; return if it is not the user's."""
        lowered = message.lower()
        if code == "UserNotFoundException":
            raise UserNotFound()
        if code == "NotAuthorizedException":
            if "secret" in lowered:  # a wrong or missing SECRET_HASH: Ferry's settings
                return
            if "disabled" in lowered:
                raise AccountBlocked("disabled")
            if "attempts exceeded" in lowered:
                raise AccountBlocked("locked")
            if "temporary password has expired" in lowered:
                raise AccountBlocked("password_expired")
            raise InvalidCredentials()
        if code == "PasswordResetRequiredException":
            raise AccountBlocked("password_change_required")
        if code in ("UserNotConfirmedException", "UserLambdaValidationException"):
            log.info("connector %s: Cognito refused the account: %s", self.name, code)
            raise AccountBlocked("disabled")

    # -- the second factor ----------------------------------------------------------------
    def complete_mfa(self, state: dict[str, Any], code: str) -> ExternalIdentity:
        session, username, challenge = (state.get(key) for key in ("session", "username",
                                                                    "challenge"))
        if challenge not in MFA_CHALLENGES or not isinstance(session, str) or not username:
            raise self.unavailable("the MFA state is incomplete: sign in again")
        responses = {"USERNAME": username, MFA_CHALLENGES[challenge][1]: code,
                     **self.secret_hash_for(username)}
        answer = self.call(
            "respond_to_auth_challenge", self.refuse_code,
            ClientId=self.settings.client_id, ChallengeName=challenge, Session=session,
            ChallengeResponses=responses,
        )
        if "AuthenticationResult" not in answer:
            raise self.unavailable(
                f"RespondToAuthChallenge answered {answer.get('ChallengeName') or 'nothing'} "
                "instead of tokens")
        return self.identity(answer)

    def refuse_code(self, code: str, message: str) -> None:
        if code in WRONG_CODE:
            raise InvalidCredentials()
        # "Invalid session for the user, session is expired." (or already used); the client id
        # just worked for the password, so a resource not found is the session too.
        if code == "ResourceNotFoundException" or (
                code == "NotAuthorizedException" and "session" in message.lower()):
            raise self.unavailable(f"the MFA session expired or was already used ({code}): "
                                   "the user signs in again")

    def refuse_nothing(self, code: str, message: str) -> None:
        """After the password was accepted, every refusal is the legacy side's."""

    # -- the profile ----------------------------------------------------------------------
    def lookup(self, identifier: str) -> ExternalIdentity | None:
        """The user whose ``email`` is ``identifier``, without a password (ListUsers, signed)."""
        if self.lookup_api is None:
            raise self.unavailable("lookup at Cognito needs lookup = true in the connector settings")
        return self.lookup_api.find(identifier)

    def identity(self, answer: dict[str, Any]) -> ExternalIdentity:
        result = answer.get("AuthenticationResult")
        token = result.get("AccessToken") if isinstance(result, dict) else None
        if not isinstance(token, str) or not token:
            raise self.unavailable("AuthenticationResult without an AccessToken")
        self.check_issuer(token)
        user = self.call("get_user", self.refuse_nothing, AccessToken=token)
        return self.profile("GetUser", user, "UserAttributes")

    def profile(self, api: str, user: dict[str, Any], key: str) -> ExternalIdentity:
        """A user's attributes (``key`` of ``user`` in ``api``'s answer) as claims, ``sub``
        the subject, and ``cognito:username`` the pool's username: for sign-ins and lookups."""
        attributes = user.get(key)
        if not isinstance(attributes, list):
            raise self.unavailable(f"{api} answered without {key}")
        claims: dict[str, Any] = {}
        for attribute in attributes:
            if not isinstance(attribute, dict) or not isinstance(attribute.get("Name"), str):
                raise self.unavailable(f"{api} answered a malformed {key} list")
            if attribute.get("Value") is not None:
                claims[attribute["Name"]] = attribute["Value"]
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            raise self.unavailable(f"{api} answered without a 'sub' attribute")
        if isinstance(user.get("Username"), str):
            claims["cognito:username"] = user["Username"]
        return ExternalIdentity(self.name, subject, claims)

    def check_issuer(self, access_token: str) -> None:
        """The token must come from ``user_pool_id``: a client of another pool is a wrong setting.

        The token is read, not verified: it came straight from Cognito over TLS, and GetUser
        vouches for it; this only catches a ``client_id`` that belongs to another pool.
        """
        try:
            payload = access_token.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            issuer = claims["iss"]
        except (IndexError, ValueError, TypeError, KeyError, RecursionError):
            raise self.unavailable("the access token is not a Cognito JWT") from None
        if not isinstance(issuer, str) or issuer.rpartition("/")[2] != self.settings.user_pool_id:
            raise self.unavailable(f"the app client belongs to another user pool ({issuer!r}), "
                                   f"not {self.settings.user_pool_id}")

    # -- plumbing -------------------------------------------------------------------------
    def secret_hash_for(self, username: str) -> dict[str, str]:
        """``{"SECRET_HASH": ...}`` when the app client has a secret, else ``{}``.

        Base64 of HMAC-SHA256 over username + client id, keyed with the client secret.
        """
        if not self.settings.client_secret:
            return {}
        digest = hmac.new(self.settings.client_secret.encode(),
                          (username + self.settings.client_id).encode(), hashlib.sha256).digest()
        return {"SECRET_HASH": base64.b64encode(digest).decode()}

    def call(self, operation: str, refuse: Callable[[str, str], None], client: Any = None,
             **params: Any) -> dict[str, Any]:
        """One Cognito call: its answer, the user's refusal, or LegacyUnavailable.

        ``refuse(code, message)`` raises what an error answer means for the user and returns
        when it is the legacy side's (or Ferry's settings') fault. ``client``: another client
        than the public, unsigned one (the lookup's admin client).
        """
        api = "".join(part.title() for part in operation.split("_"))
        try:
            return getattr(client or self.client, operation)(**params)
        except ClientError as error:
            self.refused(api, error, refuse, params)
        except SSLError:
            raise self.unavailable(f"TLS failure talking to Cognito ({api})") from None
        except (ConnectTimeoutError, ReadTimeoutError):
            raise self.unavailable(f"timed out talking to Cognito ({api})") from None
        except EndpointConnectionError:
            raise self.unavailable(f"could not connect to Cognito ({api})") from None
        except BotoCoreError as error:
            raise self.unavailable(f"{api} failed: {type(error).__name__}") from None
        except (AttributeError, TypeError, ValueError, KeyError, RecursionError) as error:
            # botocore's parser trips over a body of the wrong shape (a list for an object...)
            raise self.unavailable(f"{api} answered something that is not Cognito's answer "
                                   f"({type(error).__name__})") from None

    def refused(self, api: str, error: ClientError, refuse: Callable[[str, str], None],
                params: dict[str, Any]) -> NoReturn:
        details = error.response.get("Error", {})
        code, message = str(details.get("Code", "")), str(details.get("Message", ""))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        message = re.sub(r"\s+", " ", self.redacted(message, params))[:200]
        if status < 500 and status != 429:
            refuse(code, message)  # raises when the refusal is about the user
            if code not in THROTTLED:
                log.error("connector %s: Cognito %s refused Ferry itself (%s, %s): check its "
                          "settings", self.name, api, code, message)
        raise self.unavailable(f"{api} answered {status} {code}: {message}".rstrip(": "))

    def redacted(self, message: str, params: dict[str, Any]) -> str:
        """``message`` without anything Ferry sent that is secret (error messages may quote it)."""
        sent = [params.get("Session"), params.get("AccessToken"), self.settings.client_secret,
                self.settings.aws_secret_access_key, *filter_values(params.get("Filter"))]
        for group in ("AuthParameters", "ChallengeResponses"):
            sent.extend((params.get(group) or {}).values())
        for value in sorted((v for v in sent if isinstance(v, str) and v), key=len, reverse=True):
            message = message.replace(value, "[redacted]")
        return message
