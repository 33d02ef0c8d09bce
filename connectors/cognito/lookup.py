"""Finding a Cognito user by e-mail address without a password: ``lookup = true``.

Journeys that prove who the user is another way (a one-time code to the legacy e-mail address:
``otp_send``'s ``lookup_connector``) need the legacy profile without the password. The pool's
public operations cannot give it; its admin API can. Ferry calls ``ListUsers`` with the filter
``email = "<address>"`` (the search AWS recommends for e-mail addresses; it works whether the
pool signs users in by username, by e-mail as the username, or by an e-mail alias), signed with
AWS credentials, through a client of its own that keeps the connector's endpoint, timeouts and
single try.

Setup:

1. An IAM principal for Ferry allowed ``cognito-idp:ListUsers`` on the pool, e.g.
   ``{"Effect": "Allow", "Action": "cognito-idp:ListUsers", "Resource":
   "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbCdEf123"}``.
2. Its credentials: ``aws_access_key_id`` and ``aws_secret_access_key`` (use ``"env:NAME"``),
   or neither, and boto3's default chain finds them (``AWS_*`` environment variables, a shared
   profile, an ECS task role, an EC2 instance profile, EKS service-account roles...). Start-up
   fails when there are none.

What a lookup answers:

* the user whose ``email`` attribute is the address, with the claims and subject (``sub``) of a
  password sign-in: a user migrated by a code and later signing in by password is one identity;
* None for nobody; for an address Ferry does not search with (control characters, longer than
  a filter may be); and for an address shared by several users (ambiguous: logged for the
  operator, Ferry never picks one). Profiles of federated users (``EXTERNAL_PROVIDER``: Google,
  SAML...) are not candidates: they belong to those IdPs, and would make every federated user
  ambiguous with their native twin;
* ``AccountBlocked("disabled")`` for a disabled user and for a status that cannot sign in at
  Cognito either (``UNCONFIRMED`` sign-ups, ``COMPROMISED``, ...). Users on a temporary password
  (``FORCE_CHANGE_PASSWORD``) or asked to reset it (``RESET_REQUIRED``) are found: the code
  proves them without that password;
* LegacyUnavailable for the rest, with the fix for the operator: refused credentials, an IAM
  policy without ``ListUsers``, another account's pool, throttling, timeouts, 5xx.

The filter compares the address Ferry sends: the normalised (lower-case) identifier.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError
from pydantic import Field, model_validator

from connectors.base import AccountBlocked, ConnectorSettings, ExternalIdentity
from settings.errors import ConfigError

if TYPE_CHECKING:
    from connectors.cognito import CognitoConnector

log = logging.getLogger(__name__)

#: Statuses of a user a code may be sent to; any other (UNCONFIRMED, COMPROMISED...) is blocked.
FINDABLE = ("CONFIRMED", "FORCE_CHANGE_PASSWORD", "RESET_REQUIRED")
#: The status of a federated user's profile in the pool: never a candidate.
FEDERATED = "EXTERNAL_PROVIDER"
#: Users read per search: two pool users are ambiguous already; the rest leave room for
#: federated twins. A full page is too many to judge, and ambiguous.
PAGE = 10
#: ListUsers' longest Filter; a longer one is refused, and the refusal would count as an outage.
FILTER_MAX = 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

#: Refusals that mean Ferry's AWS credentials, their policy or the pool are wrong: the fix.
#: (AWS answers in JSON with the first name of each pair; some endpoints in XML with the second.)
REFUSED_CREDENTIALS = {
    "UnrecognizedClientException": "AWS does not know the access key id",
    "InvalidClientTokenId": "AWS does not know the access key id",
    "InvalidSignatureException": "the secret access key does not belong to the access key id",
    "SignatureDoesNotMatch": "the secret access key does not belong to the access key id",
    "ExpiredTokenException": "the AWS credentials have expired",
    "AccessDeniedException": "the IAM policy does not allow cognito-idp:ListUsers on the pool",
    "AccessDenied": "the IAM policy does not allow cognito-idp:ListUsers on the pool",
    "ResourceNotFoundException": "user_pool_id is no pool of the credentials' AWS account",
}


class CognitoLookupSettings(ConnectorSettings):
    """The lookup's settings, which a ``cognito`` connector's settings inherit."""

    lookup: bool = Field(False, description="Find users by e-mail without a password "
                         "(ListUsers, with AWS credentials).")
    lookup_unverified: bool = Field(False, description="Also find users whose e-mail Cognito "
                                    "has not verified (see the takeover note).")
    listing: bool = Field(False, description="List the pool's users for ferry roster pull "
                          "(ListUsers, with AWS credentials).")
    aws_access_key_id: str | None = Field(None, pattern=r"^\w{16,128}$",
                                          description="For lookup; default: boto3's chain.")
    aws_secret_access_key: str | None = Field(None, min_length=1,
                                              description="For lookup, with aws_access_key_id.")

    @model_validator(mode="after")
    def _keys_for_the_lookup(self) -> CognitoLookupSettings:
        keys = (self.aws_access_key_id, self.aws_secret_access_key)
        if any(keys) and not (self.lookup or self.listing):
            raise ValueError("aws_access_key_id and aws_secret_access_key are used only with "
                             "lookup = true (or listing = true)")
        if any(keys) and not all(keys):
            raise ValueError("aws_access_key_id and aws_secret_access_key go together (or leave "
                             "both out for boto3's default credential chain)")
        return self


def email_filter(address: str) -> str | None:
    """ListUsers' filter for exactly ``address``, or None when Ferry does not search with it.

    >>> email_filter('o"hara@example.com')
    'email = "o\\\\"hara@example.com"'
    """
    if not address or _CONTROL.search(address):
        return None
    escaped = address.replace("\\", "\\\\").replace('"', '\\"')
    search = f'email = "{escaped}"'
    return search if len(search) <= FILTER_MAX else None


def filter_values(search: Any) -> list[str]:
    """What a filter searches for, escaped and as typed (for redacting error messages)."""
    if not isinstance(search, str) or '"' not in search:
        return []
    escaped = search.partition('"')[2].removesuffix('"')
    return [search, escaped, escaped.replace('\\"', '"').replace("\\\\", "\\")]


class CognitoLookup:
    """The signed admin client of one ``cognito`` connector, and the search it runs."""

    def __init__(self, connector: CognitoConnector) -> None:
        self.connector = connector
        settings = connector.settings
        where = f"connectors.{connector.name}"
        try:
            # A session of its own: the default chain's credentials are resolved for this
            # connector, not cached for every client of the shared session.
            session = boto3.session.Session()
            if settings.aws_access_key_id is None and session.get_credentials() is None:
                setting = "lookup" if settings.lookup else "listing"
                raise ConfigError(f"{where}.{setting}: no AWS credentials: set aws_access_key_id and "
                                  "aws_secret_access_key, or give them to boto3's default chain "
                                  "(environment, profile, task or instance role)")
            self.client = session.client(
                "cognito-idp", region_name=settings.pool_region, endpoint_url=settings.endpoint_url,
                config=connector.client_config, aws_access_key_id=settings.aws_access_key_id,
                aws_secret_access_key=settings.aws_secret_access_key,
            )
            self.client.meta.events.register_first("before-send", connector.http.send_botocore)
        except BotoCoreError as error:
            raise ConfigError(f"{where}: cannot build the Cognito admin client: "
                              f"{type(error).__name__}: {error}") from None

    def find(self, address: str) -> ExternalIdentity | None:
        search = email_filter(address)
        if search is None:
            return None
        connector = self.connector
        answer = connector.call("list_users", self.refuse, client=self.client,
                                UserPoolId=connector.settings.user_pool_id, Filter=search,
                                Limit=PAGE)
        users = answer.get("Users")
        if not isinstance(users, list) or not all(isinstance(user, dict) for user in users):
            raise connector.unavailable("ListUsers answered without a list of Users")
        candidates = [user for user in users if user.get("UserStatus") != FEDERATED]
        if len(candidates) > 1 or len(users) >= PAGE:
            self.ambiguous(candidates, full=len(users) >= PAGE)
            return None
        if not candidates:
            return None
        user = candidates[0]
        identity = connector.profile("ListUsers", user, "Attributes")
        email = identity.claims.get("email")
        if not isinstance(email, str) or email.casefold() != address.casefold():
            log.warning("connector %s: ListUsers answered user %s, whose e-mail is not the "
                        "address searched for; treated as unknown", connector.name,
                        identity.subject)
            return None
        enabled, status = user.get("Enabled"), user.get("UserStatus")
        if not isinstance(enabled, bool) or not isinstance(status, str):
            raise connector.unavailable("ListUsers answered a user without Enabled or UserStatus")
        if not enabled or status not in FINDABLE:
            log.info("connector %s: user %s cannot be looked up (%s)", connector.name,
                     identity.subject, "disabled" if not enabled else status)
            raise AccountBlocked("disabled")
        verified = str(identity.claims.get("email_verified", "")).lower() == "true"  # a string
        if not verified and not connector.settings.lookup_unverified:
            # Anyone could have registered this address at Cognito without owning it; linking
            # that account to whoever proves the mailbox would let its password into the new
            # user. Treated as unknown: the owner still migrates with the password they know.
            log.info("connector %s: user %s has an unverified e-mail; not looked up",
                     connector.name, identity.subject)
            return None
        return identity

    def ambiguous(self, candidates: list[dict[str, Any]], full: bool) -> None:
        subs = [attribute.get("Value") for user in candidates
                for attribute in user.get("Attributes") or []
                if isinstance(attribute, dict) and attribute.get("Name") == "sub"]
        log.warning("connector %s: %s users of pool %s have the e-mail address looked up (sub "
                    "%s); Ferry picks none, so the lookup reads as unknown: give each address to "
                    "one user", self.connector.name, f"{PAGE} or more" if full else len(candidates),
                    self.connector.settings.user_pool_id, ", ".join(str(sub) for sub in subs))

    def refuse(self, code: str, message: str) -> None:
        """A ListUsers refusal is never the user's: say what Ferry's operator must fix."""
        if code == "InvalidParameterException":
            # The address passed Ferry's checks but not Cognito's: this one user cannot be
            # looked up, which is no outage (nobody could open the breaker with odd addresses).
            raise self.connector.unavailable(f"ListUsers refused the search: {message}",
                                             outage=False)
        for name, fix in REFUSED_CREDENTIALS.items():
            if code == name or f"<Code>{name}</Code>" in message:
                log.error("connector %s: AWS refused the lookup (%s): %s", self.connector.name,
                          name, fix)
                raise self.connector.unavailable(f"ListUsers answered {name}: {fix}")
