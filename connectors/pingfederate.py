"""PingFederate's OAuth password grant (Resource Owner Password Credentials): type ``pingfederate``.

Ferry posts the user's pair to PingFederate's token endpoint, ``{base_url}/as/token.oauth2``,
with ``grant_type=password``; PingFederate checks it with the *Password Credential Validator*
(PCV) of the client's access token mapping (LDAP, Active Directory, PingDirectory...). Ferry
then reads the profile from the OpenID Connect userinfo endpoint, ``{base_url}/idp/userinfo.openid``,
and checks the ID token of the answer with the keys at ``{base_url}/pf/JWKS``.

Setup at PingFederate (administrative console, as an administrator):

1. *Authentication > Policies > Password Credential Validators*: a PCV for the user store (for
   LDAP, its search filter finds the user by what people type at Ferry, usually the e-mail:
   ``(mail=${username})``).
2. *Applications > OAuth > Access Token Management*: an access token manager (reference or
   JWT tokens; Ferry only sends the token back to userinfo).
3. *Authentication > OAuth > Resource Owner Credentials Grant Mapping*: map the PCV to the
   access token manager's ``USER_KEY`` (and ``USER_NAME``).
4. *Applications > OAuth > OpenID Connect Policy Management*: a policy whose attribute contract
   releases ``sub``, ``email``, ``given_name``, ``family_name`` (and ``name``), mapped from the
   PCV or the user store, with the ``email`` and ``profile`` scopes; tick *Include user info in
   ID token* if you turn ``use_userinfo`` off.
5. *Applications > OAuth > Clients > Add Client*: client id e.g. ``ferry``, *Client
   authentication* ``Client Secret`` (copy it), *Allowed grant types* only *Resource Owner
   Password Credentials*, the access token manager and OpenID Connect policy above, and the
   scopes ``openid email profile``.

Settings (``[connectors.<name>]``, ``type = "pingfederate"``):

* ``base_url``: the runtime server, ``https://sso.example.com:9031`` (9031 is PingFederate's
  default runtime port; use the URL of the load balancer if there is one), without a path.
* ``client_id``, ``client_secret`` (use ``"env:NAME"``), ``client_auth``: ``basic`` (HTTP Basic,
  the default), ``post`` (``client_id``/``client_secret`` in the form) or ``none`` (a client
  without authentication: avoid).
* ``scope`` (default ``openid email profile``; must contain ``openid``).
* ``use_userinfo`` (default true): read the profile from ``/idp/userinfo.openid``.
* ``verify_id_token`` (default true): check the ID token's signature with ``/pf/JWKS``, its
  ``aud`` (the client id) and its ``iss`` (``issuer``).
* ``issuer`` (default ``base_url``): the ``iss`` of PingFederate's ID tokens (its *Base URL*,
  System > Server > Protocol Settings). Set it when Ferry reaches PingFederate under another URL.
* ``subject_claim`` (default ``sub``): what links the user for good.
* ``mapping``, ``display_name``, timeouts, breaker, ``rate_limit``, ``send_identifier``: as every
  connector.

Outcomes (OAuth 2.0 error bodies, RFC 6749 section 5.2, as PingFederate sends them):

* ``invalid_grant``: a wrong password or an unknown user. When its ``error_description`` says the
  account is locked (PingFederate's own lockout after failed attempts, or the directory's), the
  password has expired, must be changed or reset, or the account is disabled, Ferry reports the
  account as blocked with that reason.
* ``invalid_client`` (wrong secret), ``unauthorized_client`` (the client may not use the
  password grant), ``invalid_scope``, ``unsupported_grant_type``, ``invalid_request``, any other
  error, a 429, a 5xx, a redirect, a body that is not JSON, a 200 without ``access_token`` or
  with an error in it, a userinfo answer without ``sub`` or about another user:
  :class:`LegacyUnavailable`, reason in the log. ``access_denied`` (an issuance criterion or
  policy refused this user) is unavailable without counting towards the circuit breaker.

Docs followed: PingFederate's "Token endpoint" (``/as/token.oauth2``, its ``grant_type`` values
and the ROPC parameters), the developer guide's "Resource Owner Password Credentials grant" (the
``grant_type=password&username=...&password=...&scope=...`` request with HTTP Basic client
authentication and its JSON answer) and "OpenID Connect userinfo" (``/idp/userinfo.openid``).
Guessed, because PingFederate documents no list of them and they depend on the PCV: the exact
``error_description`` texts for locked, expired and disabled accounts; Ferry matches words in
them (``locked``, ``expired``, ``disabled``, ``change``/``reset``) and treats every other
``invalid_grant`` as a wrong password. ``/pf/JWKS`` is the key set PingFederate's discovery
document names.

Nothing secret is logged: not the password, the client secret or the tokens.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Literal
from urllib.parse import urlsplit

from joserfc import jwt
from joserfc.errors import JoseError
from pydantic import field_validator, model_validator

from connectors.base import AccountBlocked, ConnectorSettings, ExternalIdentity, InvalidCredentials
from connectors.ropc import RopcConnector

log = logging.getLogger(__name__)

#: Words of an ``invalid_grant`` description that mean "blocked", and the reason each gives,
#: checked in this order (so "password expired; account locked" reads as locked).
BLOCKED_WORDS = (
    (re.compile(r"\block(ed|out)\b|\blocked\s*out\b"), "locked"),
    (re.compile(r"\b(disabled|deactivated|inactive|suspended)\b"), "disabled"),
    (re.compile(r"\bexpired\b"), "password_expired"),
    (re.compile(r"\b(must|needs? to|required to) (be )?(change|reset)|\b(change|reset) (your |the )?"
                r"password\b"), "password_change_required"),
)
#: Runtime paths, relative to ``base_url``.
TOKEN_PATH, USERINFO_PATH, JWKS_PATH = "/as/token.oauth2", "/idp/userinfo.openid", "/pf/JWKS"


def blocked_reason(description: str) -> str | None:
    """The :class:`AccountBlocked` reason an ``invalid_grant`` description gives, or None."""
    text = description.lower()
    for pattern, reason in BLOCKED_WORDS:
        if pattern.search(text):
            return reason
    return None


class PingFederateSettings(ConnectorSettings):
    """``[connectors.<name>]`` of ``type = "pingfederate"`` (see the module docstring)."""

    base_url: str
    client_id: str
    client_secret: str | None = None
    client_auth: Literal["basic", "post", "none"] = "basic"
    scope: str = "openid email profile"
    use_userinfo: bool = True
    verify_id_token: bool = True
    issuer: str | None = None
    subject_claim: str = "sub"

    @field_validator("base_url")
    @classmethod
    def _server_root(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an http(s) URL, e.g. https://sso.example.com:9031")
        if parts.path.rstrip("/").endswith(("/as/token.oauth2", "/as", "/idp/userinfo.openid")):
            raise ValueError("must be the server's base URL (https://sso.example.com:9031), not "
                             "an endpoint: Ferry adds /as/token.oauth2 itself")
        return value.rstrip("/")

    @field_validator("scope")
    @classmethod
    def _openid_scope(cls, value: str) -> str:
        if "openid" not in value.split():
            raise ValueError("must contain 'openid' (PingFederate releases userinfo and the ID "
                             "token only with it)")
        return value

    @model_validator(mode="after")
    def _profile_source(self) -> PingFederateSettings:
        if not self.use_userinfo and not self.verify_id_token:
            raise ValueError("use_userinfo and verify_id_token are both off: Ferry would take "
                             "the profile from an unchecked ID token; keep one on")
        return self

    # -- what RopcConnector reads, derived from the base URL ----------------------------
    @property
    def token_url(self) -> str:
        return self.base_url + TOKEN_PATH

    @property
    def userinfo_url(self) -> str | None:
        return self.base_url + USERINFO_PATH if self.use_userinfo else None

    @property
    def jwks_uri(self) -> str | None:
        return self.base_url + JWKS_PATH if self.verify_id_token else None

    @property
    def expected_issuer(self) -> str:
        return self.issuer or self.base_url

    @property
    def extra_params(self) -> dict[str, str]:
        return {}


class PingFederateConnector(RopcConnector):
    """The password grant at PingFederate's token endpoint, with its error descriptions read."""

    type = "pingfederate"
    Settings = PingFederateSettings
    settings: PingFederateSettings  # type: ignore[assignment]  # read like RopcSettings

    def verify(self, identifier: str, password: str) -> ExternalIdentity:
        """The password grant; the profile from the checked ID token and userinfo."""
        token = self.request_token(self.grant_form(identifier, password))
        if self.settings.verify_id_token and not isinstance(token.get("id_token"), str) \
                and not self.settings.use_userinfo:
            raise self.unavailable("no id_token in the token answer (is openid allowed for the "
                                   "client, with an OpenID Connect policy?)")
        claims = self.claims_from_token(token)
        if self.settings.userinfo_url:
            profile = self.userinfo(token["access_token"])
            if not isinstance(profile.get("sub"), str) or not profile["sub"]:
                raise self.unavailable("userinfo answered without a 'sub' (check the OpenID "
                                       "Connect policy's attribute contract)")
            # OpenID Connect Core 5.3.2: userinfo for another subject must not be used.
            if "sub" in claims and profile["sub"] != claims["sub"]:
                raise self.unavailable("userinfo 'sub' differs from the id_token 'sub'")
            claims.update(profile)
        return self.identity_from_claims(claims, "check the OpenID Connect policy")

    def _verified_claims(self, id_token: str) -> dict[str, Any]:
        # RopcConnector checks "iss" only when settings.issuer is set: PingFederate's is known.
        try:
            token = jwt.decode(id_token, self._keys())
        except JoseError:
            self._jwks = None  # PingFederate may have rotated its signing keys
            token = jwt.decode(id_token, self._keys())
        jwt.JWTClaimsRegistry(
            aud={"essential": True, "value": self.settings.client_id},
            iss={"essential": True, "value": self.settings.expected_issuer},
        ).validate(token.claims)
        return dict(token.claims)

    def raise_for_error(self, status: int, body: dict[str, Any]) -> None:
        """PingFederate's error answers: ``invalid_grant`` is the user's; the rest Ferry's."""
        error, description = body.get("error"), body.get("error_description")
        text = description.strip()[:200] if isinstance(description, str) else ""
        if error == "invalid_grant":
            reason = blocked_reason(text)
            if reason:
                log.info("connector %s: PingFederate says the account is blocked (%s)",
                         self.name, reason)
                raise AccountBlocked(reason)
            raise InvalidCredentials()
        detail = f"{str(error)[:64]!r}" + (f" ({text})" if text else "")
        if error == "access_denied":
            raise self.unavailable(f"PingFederate refused this user by policy: {detail}",
                                   outage=False)
        log.error("connector %s: PingFederate refused Ferry itself (HTTP %s, %s): check the "
                  "OAuth client's settings", self.name, status, detail)
        raise self.unavailable(f"token endpoint error {detail} (HTTP {status})")
