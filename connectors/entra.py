"""Microsoft Entra ID (Azure AD) through the password grant (ROPC): type ``entra``.

Ferry posts the user's name and password to
``https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`` with ``grant_type=password``,
verifies the ID token in the answer with the tenant's keys
(``/{tenant}/discovery/v2.0/keys``) and takes the profile from its claims. The user is
identified by ``oid``, the object id that is the same for every app in the tenant (Entra's
``sub`` is pairwise: different for every app registration).

What Entra's ROPC cannot do (Microsoft documents these limits; such users need the ``oidc``
connector, "continue with Microsoft", instead):

* **no MFA**: a user whom Conditional Access or per-user MFA asks for a second factor is
  refused with AADSTS50076/50079/50158 (see below);
* **no federated users**: accounts whose domain is federated to AD FS or another IdP (password
  hash sync to Entra works);
* **no personal Microsoft accounts**: ``/consumers`` and ``/common`` do not do ROPC, so a
  tenant is required;
* **no passwordless users** (passkey, Authenticator phone sign-in only) and no users whose
  password must change first.

Setup in Entra (Microsoft Entra admin center > App registrations):

1. *New registration*, "Accounts in this organizational directory only" (single tenant).
2. Authentication > Advanced settings > *Allow public client flows*: Yes if Ferry uses no
   secret; otherwise Certificates & secrets > *New client secret* and set ``client_secret``.
3. API permissions: Microsoft Graph ``openid``, ``profile``, ``email`` (delegated), then
   *Grant admin consent* (ROPC cannot show a consent prompt: without it, AADSTS65001).
4. Token configuration > *Add optional claim* (ID token): ``email``, ``given_name``,
   ``family_name`` if the mapping needs them (``preferred_username`` and ``name`` are there
   by default).
5. Note the *Directory (tenant) ID* and the *Application (client) ID*.

Settings (``[connectors.<name>]``, ``type = "entra"``):

* ``tenant``: the directory (tenant) id, or a verified domain of the tenant
  (``contoso.onmicrosoft.com``); ``common``, ``organizations`` and ``consumers`` are refused.
* ``client_id``; ``client_secret`` (optional: without it Ferry is a public client and the
  app must allow public client flows; use ``"env:NAME"``).
* ``authority`` (default ``https://login.microsoftonline.com``): the cloud's login host, e.g.
  ``https://login.microsoftonline.us`` (US Government) or
  ``https://login.partner.microsoftonline.cn`` (China, 21Vianet); a fake in tests.
* ``scope`` (default ``openid profile email``): must contain ``openid`` (the ID token is the
  profile).
* ``verify_id_token`` (default true): check the ID token's signature with the tenant's JWKS and
  its ``aud``, ``iss`` (``{authority}/{tid}/v2.0``), ``tid`` and expiry. Turning it off reads
  the token as received from the token endpoint over TLS (still checking ``aud``/``iss``).
* ``subject_claim`` (default ``oid``): the claim that links the user for good.
* ``mapping``, ``display_name``, ``connect_timeout``, ``read_timeout``, ``breaker_failures``,
  ``breaker_reset``, ``rate_limit``, ``send_identifier``: as every connector.

Outcomes, by the AADSTS code in ``error_codes`` (or in ``error_description``):

* 50126 (invalid user name or password): wrong credentials; 50034 (no such user in the
  tenant): unknown user (:class:`UserNotFound`, users read the same words).
* 50053 (locked by smart lockout): locked; but when the description says the *IP address*
  was blocked, it is Ferry's address: unavailable, since no user is at fault.
* 50057 (disabled): disabled; 50055 / 50144 (password expired): password expired.
* 50072, 50074, 50076, 50079, 50158 (MFA or MFA enrolment required): **unavailable**, with
  the reason "Entra requires MFA for this user; the password grant cannot complete it". This
  is deliberate: Entra has already accepted the password, so "wrong password" would be a lie
  that counts against the user; "blocked" would tell them their account is locked; and
  ``mfa_required`` would ask for a code Ferry has no way to check through ROPC. *Unavailable*
  counts nothing, creates nothing, and lands in the audit log (``legacy.unavailable`` with
  that reason) so the operator can send these users to an ``oidc`` connector. Like every
  *unavailable* answer it counts toward the circuit breaker: in a tenant where many users
  need MFA, raise ``breaker_failures`` or route those users elsewhere first.
* 53003 (blocked by Conditional Access), 65001 (no admin consent), 7000218 (client secret
  required), 7000215 / 7000222 (wrong or expired secret), 700016 (app not found), 90002 (tenant
  not found), any other error, a 429, a 5xx, a timeout, HTML: unavailable, logged for the operator.
* any other ``invalid_grant``: wrong credentials.
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar

from pydantic import field_validator, model_validator

from connectors.base import AccountBlocked, ConnectorSettings, InvalidCredentials, UserNotFound
from connectors.ropc import RopcConnector, _http_url

log = logging.getLogger(__name__)

_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_DOMAIN = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$")
_AADSTS = re.compile(r"AADSTS(\d+)")

WRONG_PASSWORD = {50126}
NO_SUCH_USER = {50034}
LOCKED = {50053}
DISABLED = {50057}
PASSWORD_EXPIRED = {50055, 50144}
MFA_REQUIRED = {50072, 50074, 50076, 50079, 50158}
MISCONFIGURED = {
    53003: "blocked by a Conditional Access policy (perhaps for Ferry's network location)",
    65001: "no admin consent for Ferry's app (grant it under API permissions)",
    7000218: "the app needs a client secret (set client_secret, or allow public client flows)",
    7000215: "invalid client secret",
    7000222: "the client secret has expired",
    700016: "application not found in the tenant (check client_id and tenant)",
    90002: "tenant not found (check tenant and authority)",
}


class EntraSettings(ConnectorSettings):
    tenant: str
    client_id: str
    client_secret: str | None = None
    authority: str = "https://login.microsoftonline.com"
    scope: str = "openid profile email"
    verify_id_token: bool = True
    subject_claim: str = "oid"

    _url = field_validator("authority")(_http_url)

    @field_validator("authority")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("tenant")
    @classmethod
    def _one_tenant(cls, value: str) -> str:
        value = value.strip()
        if value.lower() in ("common", "organizations", "consumers"):
            raise ValueError(f"{value!r} is not one tenant: ROPC needs the tenant id or one of its "
                             "domains (personal accounts cannot use ROPC at all)")
        if not (_GUID.match(value) or _DOMAIN.match(value)):
            raise ValueError("the directory (tenant) id or a verified domain of the tenant")
        return value.lower()

    @model_validator(mode="after")
    def _openid(self) -> EntraSettings:
        if "openid" not in self.scope.split():
            raise ValueError("scope must contain openid (the ID token is the profile)")
        return self

    # What the ropc machinery reads, derived from the Entra settings above.
    @property
    def token_url(self) -> str:
        return f"{self.authority}/{self.tenant}/oauth2/v2.0/token"

    @property
    def jwks_uri(self) -> str | None:
        return f"{self.authority}/{self.tenant}/discovery/v2.0/keys" if self.verify_id_token else None

    @property
    def client_auth(self) -> str:
        return "post" if self.client_secret else "none"

    @property
    def tenant_id(self) -> str | None:
        """The tenant's id when ``tenant`` is one (not a domain name)."""
        return self.tenant if _GUID.match(self.tenant) else None

    userinfo_url: ClassVar[None] = None  # Entra's userinfo is a Graph API call: the ID token suffices
    extra_params: ClassVar[dict[str, str]] = {}
    issuer: ClassVar[None] = None  # depends on the token's tid; checked in claims_from_token


class EntraConnector(RopcConnector):
    type = "entra"
    Settings = EntraSettings
    settings: EntraSettings

    def raise_for_error(self, status: int, body: dict[str, Any]) -> None:
        description = body.get("error_description")
        description = description if isinstance(description, str) else ""
        codes = [c for c in body.get("error_codes") or [] if isinstance(c, int)]
        codes += [int(found) for found in _AADSTS.findall(description)]
        for code in codes:
            if code in WRONG_PASSWORD:
                raise InvalidCredentials()
            if code in NO_SUCH_USER:
                raise UserNotFound()
            if code in LOCKED:
                if "ip address" in description.lower():
                    raise self.unavailable("Entra blocked sign-ins from Ferry's IP address "
                                           "(AADSTS50053)")
                raise AccountBlocked("locked")
            if code in DISABLED:
                raise AccountBlocked("disabled")
            if code in PASSWORD_EXPIRED:
                raise AccountBlocked("password_expired")
            if code in MFA_REQUIRED:
                raise self.unavailable(
                    f"Entra requires MFA for this user (AADSTS{code}); the password grant cannot "
                    "complete it, so migrate such users with an oidc connector", outage=False)
            if code in MISCONFIGURED:
                log.error("connector %s: Entra refused Ferry itself (AADSTS%s): %s",
                          self.name, code, MISCONFIGURED[code])
                raise self.unavailable(f"AADSTS{code}: {MISCONFIGURED[code]}")
        super().raise_for_error(status, body)

    def claims_from_token(self, token: dict[str, Any]) -> dict[str, Any]:
        claims = super().claims_from_token(token)
        if not claims:
            raise self.unavailable("Entra answered without an id_token (is openid in scope?)")
        tid = claims.get("tid")
        if not isinstance(tid, str) or claims.get("iss") != f"{self.settings.authority}/{tid}/v2.0":
            raise self.unavailable("the id_token's iss is not a v2.0 Entra issuer of its tid "
                                   f"(iss {claims.get('iss')!r}, tid {tid!r})")
        if self.settings.tenant_id and tid.lower() != self.settings.tenant_id:
            raise self.unavailable(f"the id_token comes from another tenant ({tid})")
        if claims.get("aud") != self.settings.client_id:
            raise self.unavailable("the id_token is for another app (aud)")
        return claims
