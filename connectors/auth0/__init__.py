"""Auth0 database connections through the password-realm grant: type ``auth0``.

Ferry posts the user's e-mail and password to ``https://{domain}/oauth/token`` with Auth0's own
grant ``http://auth0.com/oauth/grant-type/password-realm`` and the connection as ``realm``, reads
the profile from ``/userinfo``, and finishes Auth0's MFA with the ``mfa-otp`` grant when Auth0
asks for it, so a user who had MFA at Auth0 is not migrated on a password alone. With
``passwordless`` set it also signs users in with the one-time code Auth0 itself sends
(``/passwordless/start``, then the ``passwordless/otp`` grant): see
:mod:`connectors.auth0.passwordless`.

Setup at Auth0 (Dashboard > Applications):

1. Create a *Regular Web Application* for Ferry (a confidential client: it has a secret).
2. Settings > Token Endpoint Authentication Method: *Post* (or *Basic*, then set
   ``client_auth = "basic"``).
3. Advanced Settings > Grant Types: tick *Password* (and *MFA* if any user has MFA).
4. Connections: enable the database connection the users live in (its name is the ``realm``).
5. Optional, recommended with brute-force protection: Advanced Settings > OAuth > *Trust Token
   Endpoint IP Header*, and ``forward_user_ip = true`` here. Without it Auth0 sees every
   sign-in coming from Ferry's address, so one attacker's wrong passwords can get a user
   blocked for everybody signing in through Ferry (Auth0 blocks a user per IP address).
   Behind a reverse proxy, set Ferry's ``trusted_proxies`` so the address is the user's.

Settings (``[connectors.<name>]``, ``type = "auth0"``):

* ``domain``: the tenant's domain (``corp.eu.auth0.com``) or its custom domain; builds
  ``https://{domain}/oauth/token``, ``/userinfo`` and ``/mfa/authenticators``.
* ``base_url`` (optional): an explicit base URL instead (``http://127.0.0.1:8080`` in tests).
* ``client_id``, ``client_secret`` (use ``"env:NAME"``), ``client_auth``: ``post`` (default,
  Auth0's default for web apps), ``basic``, or ``none`` (public client, no secret).
* ``realm`` (default ``Username-Password-Authentication``): the database connection's name.
* ``audience`` (optional): an API identifier to ask an access token for.
* ``scope`` (default ``openid profile email``): must contain ``openid`` (``/userinfo`` needs it).
* ``forward_user_ip`` (default false): send the end user's IP address in the
  ``auth0-forwarded-for`` header (needs a confidential client with *Trust Token Endpoint IP
  Header* on; Auth0 ignores the header otherwise).
* ``passwordless`` (optional): ``email`` or ``sms``, the Auth0 passwordless connection whose
  codes the ``legacy_code`` step asks for; ``otp_length`` (default 6) and ``otp_expiry``
  (default 180 seconds): the same values as that connection's *OTP Length* and *OTP Expiry*.
* ``mapping``, ``display_name``, ``connect_timeout``, ``read_timeout``, ``breaker_failures``,
  ``breaker_reset``, ``rate_limit``, ``send_identifier``: as every connector.

Outcomes (Auth0's documented error answers of ``/oauth/token``):

* ``invalid_grant`` ("Wrong email or password.", also for an unknown user): wrong credentials.
* ``invalid_grant`` or ``unauthorized`` with "user is blocked" (blocked by an administrator),
  and ``too_many_attempts`` (429, blocked by brute-force protection): the account is locked.
* ``password_leaked`` (breached password detection): the password must change at Auth0.
* ``mfa_required`` (403 with an ``mfa_token``): Ferry asks for the code of the user's
  authenticator app and sends it with the ``mfa-otp`` grant; ``invalid_grant`` ("Invalid
  otp_code.") asks again. A user whose only factors Ferry cannot answer (SMS, push, e-mail)
  cannot be migrated this way: *unavailable*, with the reason in the log.
* ``too_many_requests`` (429, Auth0's rate limit), ``access_denied`` (wrong client secret,
  unknown audience, or an Auth0 Action that denied the login), ``unauthorized_client`` (the
  grant is not enabled), ``invalid_client``, ``invalid_request``, a 5xx, a timeout or an answer
  that is not the expected JSON: *unavailable* (never the user's fault), logged for the operator.
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar, Literal

from flask import has_request_context, request
from pydantic import Field, field_validator, model_validator

from connectors.auth0.passwordless import PASSWORDLESS_OTP, Auth0Passwordless, error_text
from connectors.base import (
    AccountBlocked,
    ConnectorSettings,
    ExternalIdentity,
    InvalidCredentials,
    LegacyUnavailable,
    MfaRequired,
)
from connectors.ropc import RopcConnector, _http_url

log = logging.getLogger(__name__)

PASSWORD_REALM = "http://auth0.com/oauth/grant-type/password-realm"  # noqa: S105 (a grant type)
MFA_OTP = "http://auth0.com/oauth/grant-type/mfa-otp"
FORWARDED_FOR = "auth0-forwarded-for"
_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


class Auth0Settings(ConnectorSettings):
    domain: str | None = None
    base_url: str | None = None
    client_id: str
    client_secret: str | None = None
    client_auth: Literal["post", "basic", "none"] = "post"
    realm: str = "Username-Password-Authentication"
    audience: str | None = None
    scope: str = "openid profile email"
    forward_user_ip: bool = False
    passwordless: Literal["email", "sms"] | None = None
    otp_length: int = Field(6, ge=4, le=12)
    otp_expiry: int = Field(180, ge=30, le=86400)

    _url = field_validator("base_url")(_http_url)

    @field_validator("domain")
    @classmethod
    def _bare_domain(cls, value: str | None) -> str | None:
        if value is not None and not _HOST.match(value.strip()):
            raise ValueError('a domain name such as "corp.eu.auth0.com", without https:// or a path')
        return value.strip().lower() if value else value

    @model_validator(mode="after")
    def _consistent(self) -> Auth0Settings:
        if not self.domain and not self.base_url:
            raise ValueError("set domain (or base_url)")
        if self.client_auth != "none" and not self.client_secret:
            raise ValueError(f'client_auth = "{self.client_auth}" needs client_secret '
                             '(or client_auth = "none" for a public client)')
        if self.forward_user_ip and self.client_auth == "none":
            raise ValueError("forward_user_ip needs a confidential client: Auth0 trusts the "
                             "auth0-forwarded-for header only from authenticated clients")
        if "openid" not in self.scope.split():
            raise ValueError("scope must contain openid (Auth0's /userinfo needs it)")
        return self

    # What the ropc machinery reads, derived from the Auth0 settings above.
    @property
    def base(self) -> str:
        return (self.base_url or f"https://{self.domain}").rstrip("/")

    @property
    def token_url(self) -> str:
        return f"{self.base}/oauth/token"

    @property
    def userinfo_url(self) -> str:
        return f"{self.base}/userinfo"

    @property
    def authenticators_url(self) -> str:
        return f"{self.base}/mfa/authenticators"

    @property
    def passwordless_start_url(self) -> str:
        return f"{self.base}/passwordless/start"

    subject_claim: ClassVar[str] = "sub"
    # The profile comes from /userinfo over TLS; an ID token in the answer is only compared.
    jwks_uri: ClassVar[None] = None
    issuer: ClassVar[None] = None


class Auth0Connector(RopcConnector, Auth0Passwordless):
    type = "auth0"
    Settings = Auth0Settings
    settings: Auth0Settings

    def verify(self, identifier: str, password: str) -> ExternalIdentity:
        return self.identity(self.request_token(self.grant_form(identifier, password)))

    def complete_mfa(self, state: dict[str, Any], code: str) -> ExternalIdentity:
        mfa_token = state.get("mfa_token")
        if not isinstance(mfa_token, str) or not mfa_token:
            raise self.unavailable("MFA state without an mfa_token")
        form = {"grant_type": MFA_OTP, "mfa_token": mfa_token, "otp": code}
        return self.identity(self.request_token(form))

    # -- the grant ------------------------------------------------------------------------
    def grant_form(self, identifier: str, password: str) -> dict[str, str]:
        form = {"grant_type": PASSWORD_REALM, "realm": self.settings.realm,
                "username": identifier, "password": password, "scope": self.settings.scope}
        if self.settings.audience:
            form["audience"] = self.settings.audience
        return form

    def request_token(self, form: dict[str, str]) -> dict[str, Any]:
        settings = self.settings
        auth = None
        if settings.client_auth == "basic":
            auth = (settings.client_id, settings.client_secret or "")
        else:
            form = {**form, "client_id": settings.client_id}
            if settings.client_auth == "post":
                form["client_secret"] = settings.client_secret or ""
        response = self.http.request("POST", settings.token_url, data=form, auth=auth,
                                     headers=self.token_headers())
        if response.status_code >= 500:
            raise self.unavailable(f"token endpoint answered {response.status_code}")
        # Auth0 answers 429 for two different things, told apart by the JSON body:
        # too_many_attempts (the user is blocked) and too_many_requests (a rate limit).
        body = self.http.json(response)
        if response.status_code == 200:
            if not isinstance(body.get("access_token"), str):
                raise self.unavailable("token answer without an access_token")
            return body
        if form["grant_type"] == MFA_OTP:
            self.raise_for_mfa_error(response.status_code, body)
        elif form["grant_type"] == PASSWORDLESS_OTP:
            self.raise_for_code_error(response.status_code, body)
        else:
            self.raise_for_error(response.status_code, body)
        raise self.unavailable(f"token endpoint answered {response.status_code}")

    def token_headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        address = self.user_ip()
        if address:
            headers[FORWARDED_FOR] = address
        return headers

    def user_ip(self) -> str | None:
        """The end user's IP address when ``forward_user_ip`` is on and a user is asking."""
        if not self.settings.forward_user_ip or not has_request_context():
            return None
        return request.remote_addr

    def raise_for_error(self, status: int, body: dict[str, Any]) -> None:
        error = body.get("error")
        description = error_text(body.get("error_description"))
        if error == "mfa_required":
            raise self.mfa_challenge(body)
        if error in ("invalid_grant", "unauthorized") and "user is blocked" in description.lower():
            raise AccountBlocked("locked")
        if error == "too_many_attempts":
            raise AccountBlocked("locked")
        if error == "password_leaked":
            raise AccountBlocked("password_change_required")
        if error == "invalid_grant":
            raise InvalidCredentials()
        if error == "too_many_requests" or status == 429:
            raise self.unavailable(f"Auth0 rate limit reached ({error!r}, HTTP {status})")
        self._refused_ferry(status, error, description)

    def raise_for_mfa_error(self, status: int, body: dict[str, Any]) -> None:
        """Errors of the mfa-otp grant: only a wrong code is the user's to retry."""
        error = body.get("error")
        description = error_text(body.get("error_description"))
        if error == "expired_token" or (error == "invalid_grant" and "mfa_token" in description):
            raise self.unavailable(f"the Auth0 MFA challenge is gone ({error!r}: {description})",
                                   outage=False)
        if error == "invalid_grant":
            raise InvalidCredentials()
        if error == "too_many_attempts" or status == 429:
            raise self.unavailable(f"Auth0 refuses more codes for now ({error!r}, HTTP {status})",
                                   outage=False)
        self._refused_ferry(status, error, description)

    # -- MFA --------------------------------------------------------------------------------
    def mfa_challenge(self, body: dict[str, Any]) -> MfaRequired | LegacyUnavailable:
        """What to raise for ``mfa_required``: a TOTP challenge, if the user can answer one."""
        mfa_token = body.get("mfa_token")
        if not isinstance(mfa_token, str) or not mfa_token:
            return self.unavailable("mfa_required without an mfa_token")
        authenticators = self.authenticators(mfa_token)
        if not any(a.get("authenticator_type") == "otp" and a.get("active") is True
                   for a in authenticators):
            kinds = sorted({str(a.get("authenticator_type")) for a in authenticators}) or ["none"]
            return self.unavailable(
                "Auth0 requires MFA for this user, who has no authenticator-app (otp) factor "
                f"Ferry could ask for (enrolled: {', '.join(kinds)})", outage=False)
        return MfaRequired({"mfa_token": mfa_token}, factor="totp")

    def authenticators(self, mfa_token: str) -> list[dict[str, Any]]:
        response = self.http.request(
            "GET", self.settings.authenticators_url,
            headers={"Authorization": f"Bearer {mfa_token}", "Accept": "application/json"},
        )
        if response.status_code != 200:
            raise self.unavailable(f"/mfa/authenticators answered {response.status_code} "
                                   "(is the MFA grant enabled for Ferry's application?)")
        listed = self.http.json(response, expect=list)
        if not all(isinstance(a, dict) for a in listed):
            raise self.unavailable("/mfa/authenticators answered JSON that is not a list of objects")
        return listed

    # -- the profile ----------------------------------------------------------------------
    def identity(self, token: dict[str, Any]) -> ExternalIdentity:
        claims = self.claims_from_token(token)
        profile = self.userinfo(token["access_token"])
        # OpenID Connect Core 5.3.2: userinfo for another subject must not be used.
        if "sub" in claims and profile.get("sub") != claims["sub"]:
            raise self.unavailable("userinfo 'sub' differs from the id_token 'sub'")
        claims.update(profile)
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise self.unavailable("no 'sub' in Auth0's /userinfo answer")
        return ExternalIdentity(self.name, subject, claims)
