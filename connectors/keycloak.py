"""Keycloak's direct grant (the password grant of one realm): type ``keycloak``.

Setup in Keycloak (admin console, the realm the users live in):

1. *Clients > Create client*: OpenID Connect, client id e.g. ``ferry``; *Client authentication*
   on (a confidential client); under *Authentication flow* tick only *Direct access grants*.
   Copy the secret from the *Credentials* tab.
2. The client's *Client scopes* must include ``email`` and ``profile`` (they are default scopes in
   a new realm), so that userinfo releases the e-mail address and the names.
3. Users with a one-time password: see "Second factor" below.

Settings (``[connectors.<name>]``, ``type = "keycloak"``):

* ``base_url``: the server root, e.g. ``https://sso.example.com``. Keycloak 16 and older (and
  newer ones started with ``--http-relative-path=/auth``) serve everything under ``/auth``:
  then include it, ``https://sso.example.com/auth``. Not the realm URL: ``realm`` is separate.
* ``realm``: the realm name (``master`` is only for Keycloak's own administrators).
* ``client_id``, ``client_secret`` (use ``"env:NAME"``), ``client_auth``: ``post`` (the default:
  ``client_id``/``client_secret`` in the form, Keycloak's "Client Id and Secret"), ``basic``
  (HTTP Basic) or ``none`` (a public client: then anyone can use it, prefer a secret).
* ``scope`` (default ``openid email profile``; must contain ``openid``).
* ``use_userinfo`` (default true): read the profile from the realm's userinfo endpoint.
* ``verify_id_token`` (default true): check the ID token's signature with the realm's keys
  (``.../protocol/openid-connect/certs``), its ``aud`` (the client id) and its ``iss``.
* ``issuer`` (default ``{base_url}/realms/{realm}``): the expected ``iss``. Set it when Ferry
  reaches Keycloak under another URL than its public one (Keycloak's ``hostname`` setting).
* ``subject_claim`` (default ``sub``, the user's id in Keycloak): what links the user for good.
* ``otp`` (default ``never``), ``otp_client_id``, ``otp_client_secret``: see below.
* ``mapping``, ``display_name``, timeouts, breaker, ``rate_limit``, ``send_identifier``: as every
  connector.

Outcomes (Keycloak's documented error bodies):

* ``invalid_grant`` "Invalid user credentials": wrong password or unknown user (Keycloak 24+
  also answers this for an account locked by brute-force detection, on purpose).
* ``invalid_grant`` "Account disabled": blocked (``disabled``).
* ``invalid_grant`` "Account temporarily disabled" (older Keycloak, brute-force lockout):
  blocked (``locked``).
* ``invalid_grant`` "Account is not fully set up": the user has pending required actions
  (a temporary password, usually): blocked (``password_change_required``). Keycloak does not
  say which action, so a pending e-mail verification or profile update reads the same.
* ``invalid_client``, ``unauthorized_client`` ("Client not allowed for direct access grants"),
  ``invalid_scope``, "Realm does not exist" (a wrong ``realm``), a 5xx, a 429, a timeout, a TLS
  failure or an answer that is not JSON: legacy unavailable, with the reason in the log.

Second factor (``otp``). Keycloak's direct grant takes a one-time code as an ``otp`` form
parameter (``totp`` before Keycloak 12). But when the code is missing it answers exactly as for
a wrong password (401 ``invalid_grant`` "Invalid user credentials", in every version), and
finishing later would need the password again, which Ferry never keeps (not in the journey run,
not encrypted, not in memory). So Ferry checks the two factors with two clients, one request
each, and keeps only the username and the Keycloak user id in between:

* ``otp = "never"`` (default): one direct grant with the password. With Keycloak's built-in
  "direct grant" flow (password, then *Conditional OTP*) a user who has an OTP device is refused
  like a wrong password: such users are never migrated on a password alone, but they cannot
  migrate through this connector either. Route them to the ``oidc`` connector (a redirect to
  Keycloak's own login pages, which ask for the code) or use ``otp = "always"``.
* ``otp = "always"``: for a realm where every user has an OTP device. ``verify`` checks the
  password at ``client_id``, whose direct-grant flow must check the password only; then the
  journey's ``legacy_mfa`` step asks for the code and ``complete_mfa`` sends the username and
  the code (as ``otp`` and ``totp``, no password) to ``otp_client_id``, whose flow checks the
  code only. The Keycloak user id of both answers must be the same. Setup: *Authentication >
  Flows*: duplicate "direct grant" twice; in "ferry password" delete the *Conditional OTP*
  sub-flow; in "ferry otp" delete *Password* and set *OTP* to *Required* (not conditional: a
  user without a device must be refused). Create a second confidential client (e.g.
  ``ferry-otp``, direct access grants only) and, on each client, *Advanced > Authentication
  flow overrides > Direct grant flow* = its flow. The OTP client proves possession of a code
  without a password: keep its secret in Ferry only, give it no roles, and keep brute-force
  detection on in the realm (it counts wrong codes).

Nothing secret is logged: not the password, the code, the client secrets or the tokens.
"""

from __future__ import annotations

import logging
from typing import Any, Literal
from urllib.parse import quote

from joserfc import jwt
from joserfc.errors import JoseError
from pydantic import field_validator, model_validator

from connectors.base import (
    AccountBlocked,
    ConnectorSettings,
    ExternalIdentity,
    InvalidCredentials,
    MfaRequired,
)
from connectors.ropc import RopcConnector

log = logging.getLogger(__name__)

#: ``error_description`` of Keycloak's ``invalid_grant`` answers that mean "blocked", lower-cased.
BLOCKED_DESCRIPTIONS = {
    "account disabled": "disabled",
    "account is disabled": "disabled",
    "account temporarily disabled": "locked",
    "account is temporarily disabled": "locked",
    "account is not fully set up": "password_change_required",
}


class KeycloakSettings(ConnectorSettings):
    base_url: str
    realm: str
    client_id: str
    client_secret: str | None = None
    client_auth: Literal["post", "basic", "none"] = "post"
    scope: str = "openid email profile"
    use_userinfo: bool = True
    verify_id_token: bool = True
    issuer: str | None = None
    subject_claim: str = "sub"
    otp: Literal["never", "always"] = "never"
    otp_client_id: str | None = None
    otp_client_secret: str | None = None

    @field_validator("base_url")
    @classmethod
    def _server_root(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        value = value.rstrip("/")
        if "/realms/" in value + "/":
            raise ValueError("must be the server root (e.g. https://sso.example.com, or .../auth "
                             "for Keycloak 16 and older), not a realm URL: set `realm` separately")
        return value

    @field_validator("realm")
    @classmethod
    def _realm_name(cls, value: str) -> str:
        if not value.strip() or "/" in value:
            raise ValueError("must be a realm name (not empty, no '/')")
        return value

    @field_validator("scope")
    @classmethod
    def _openid_scope(cls, value: str) -> str:
        if "openid" not in value.split():
            raise ValueError("must contain 'openid' (Keycloak releases userinfo and the ID "
                             "token only with it)")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> KeycloakSettings:
        if self.otp == "always" and not self.otp_client_id:
            raise ValueError('otp = "always" needs otp_client_id (a second client whose direct '
                             "grant flow checks only the one-time code)")
        if self.otp == "never" and (self.otp_client_id or self.otp_client_secret):
            raise ValueError('otp_client_id and otp_client_secret are only used with otp = "always"')
        if self.otp_client_id and self.otp_client_id == self.client_id:
            raise ValueError("otp_client_id must be another client than client_id (each has its "
                             "own direct grant flow)")
        return self

    @model_validator(mode="before")
    @classmethod
    def _default_issuer(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("issuer") is None:
            base, realm = data.get("base_url"), data.get("realm")
            if isinstance(base, str) and isinstance(realm, str):
                data = {**data, "issuer": f"{base.rstrip('/')}/realms/{quote(realm, safe='')}"}
        return data

    # -- what RopcConnector reads, derived from the realm -------------------------------
    @property
    def realm_url(self) -> str:
        return f"{self.base_url}/realms/{quote(self.realm, safe='')}"

    @property
    def token_url(self) -> str:
        return f"{self.realm_url}/protocol/openid-connect/token"

    @property
    def userinfo_url(self) -> str | None:
        return f"{self.realm_url}/protocol/openid-connect/userinfo" if self.use_userinfo else None

    @property
    def jwks_uri(self) -> str | None:
        return f"{self.realm_url}/protocol/openid-connect/certs" if self.verify_id_token else None

    @property
    def extra_params(self) -> dict[str, str]:
        return {}


class KeycloakConnector(RopcConnector):
    type = "keycloak"
    Settings = KeycloakSettings
    settings: KeycloakSettings  # type: ignore[assignment]  # read like RopcSettings (see properties)

    def verify(self, identifier: str, password: str) -> ExternalIdentity:
        identity = self.identity_from(self.request_token(self.grant_form(identifier, password)))
        if self.settings.otp == "never":
            return identity
        # The password is right; the code goes to the OTP client. Only who it is stays in the
        # journey run: Keycloak needs no password for the second request.
        raise MfaRequired({"username": identifier, "subject": identity.subject}, factor="totp")

    def complete_mfa(self, state: dict[str, Any], code: str) -> ExternalIdentity:
        username, subject = state.get("username"), state.get("subject")
        if self.settings.otp != "always" or not isinstance(username, str) or not isinstance(subject, str):
            raise self.unavailable("no Keycloak OTP challenge to finish (settings changed?)")
        form = {"grant_type": "password", "username": username, "scope": self.settings.scope,
                # "otp" since Keycloak 12; "totp" before (newer ones still read it if "otp" is absent)
                "otp": code, "totp": code}
        try:
            token = self.request_token(
                form, client=(self.settings.otp_client_id, self.settings.otp_client_secret))
        except AccountBlocked as blocked:
            # Blocked between the two requests (brute-force detection counting wrong codes,
            # usually): for the code page that is a code that cannot work.
            log.info("connector %s: account blocked (%s) at the OTP step", self.name, blocked.reason)
            raise InvalidCredentials() from None
        identity = self.identity_from(token, client_id=self.settings.otp_client_id)
        if identity.subject != subject:
            raise self.unavailable("the OTP client answered for another Keycloak user than the "
                                   "password client: check both clients' direct grant flows")
        return identity

    def raise_for_error(self, status: int, body: dict[str, Any]) -> None:
        error, description = body.get("error"), body.get("error_description")
        text = description.strip() if isinstance(description, str) else ""
        if error == "invalid_grant":
            reason = BLOCKED_DESCRIPTIONS.get(text.lower().rstrip("."))
            if reason:
                raise AccountBlocked(reason)
            raise InvalidCredentials()
        # Keycloak's descriptions say what is wrong ("Client not allowed for direct access
        # grants", "Realm does not exist"); they carry no secret, so the operator gets them.
        detail = f"{error!r}" + (f" ({text[:200]})" if text else "")
        log.error("connector %s: Keycloak refused Ferry itself (HTTP %s, %s): check its settings",
                  self.name, status, detail)
        raise self.unavailable(f"token endpoint error {detail} (HTTP {status})")

    # -- the profile ----------------------------------------------------------------------
    def identity_from(self, token: dict[str, Any], client_id: str | None = None) -> ExternalIdentity:
        """The user a token answer vouches for: ID token claims, then userinfo over them."""
        id_token = token.get("id_token")
        if self.settings.verify_id_token and isinstance(id_token, str):
            claims = self.checked_id_token(id_token, client_id or self.settings.client_id)
        else:
            claims = self.claims_from_token(token)  # read as sent, or {} without an ID token
        if self.settings.userinfo_url:
            profile = self.userinfo(token["access_token"])
            # OpenID Connect Core 5.3.2: userinfo for another subject must not be used.
            if "sub" in claims and profile.get("sub") != claims["sub"]:
                raise self.unavailable("userinfo 'sub' differs from the id_token 'sub'")
            claims.update(profile)
        elif not isinstance(id_token, str):
            raise self.unavailable("no id_token in the token answer and use_userinfo is off")
        subject = claims.get(self.settings.subject_claim)
        if subject in (None, "") or isinstance(subject, dict | list | bool):
            raise self.unavailable(f"no usable {self.settings.subject_claim!r} claim in the "
                                   "Keycloak profile")
        return ExternalIdentity(self.name, str(subject), claims)

    def checked_id_token(self, id_token: str, audience: str) -> dict[str, Any]:
        """The claims of an ID token signed with the realm's keys, for ``audience``, from
        ``issuer``; the reason names the failed check ("Invalid claim: 'iss'" usually means
        Keycloak's public hostname differs from ``base_url``: set ``issuer``)."""
        try:
            try:
                decoded = jwt.decode(id_token, self._keys())
            except JoseError:
                self._jwks = None  # the realm may have rotated its keys: fetch them once more
                decoded = jwt.decode(id_token, self._keys())
            jwt.JWTClaimsRegistry(
                aud={"essential": True, "value": audience},
                iss={"essential": True, "value": self.settings.issuer},
            ).validate(decoded.claims)
        except JoseError as error:
            raise self.unavailable(f"ID token refused: {error}") from None
        except (ValueError, RecursionError) as error:
            raise self.unavailable(f"ID token refused: {type(error).__name__}") from None
        if not isinstance(decoded.claims, dict):
            raise self.unavailable("ID token refused: its payload is not a JSON object")
        return dict(decoded.claims)
