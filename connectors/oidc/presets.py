"""The ``oidc`` connector's settings: the validated model, and the vendor presets.

A preset turns a client id and secret (plus the tenant, domain or realm that is inherent to the
vendor) into a working ``oidc`` connector. Each quirk is a hook a preset overrides:

* :meth:`Preset.issuer`: the issuer URL built from the vendor's own settings;
* :meth:`Preset.discovery_issuer_ok`: whether the ``issuer`` of the discovery document is the one
  configured (exact equality, except for Microsoft's multi-tenant endpoints);
* :meth:`Preset.token_issuers`: the ``iss`` values an ID token may carry (Google also uses the
  bare host name; Microsoft's multi-tenant issuer is a template filled with the ``tid`` claim);
* :meth:`Preset.client_secret`: the secret sent to the token endpoint (Apple's is a short-lived
  ES256 JWT signed with the team's key);
* :meth:`Preset.extra_claims`: claims the IdP sends outside the ID token (Apple's ``user`` form
  field with the user's name, on the first authorization only).

:class:`connectors.oidc.settings.OidcSettings` checks every setting at start-up, presets' needs
included, so a wrong configuration fails with a clear message instead of at a user's sign-in.
The settings are documented in ``connectors/oidc/``.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

if TYPE_CHECKING:  # the settings module imports this one, never the other way round
    from connectors.oidc.settings import OidcSettings

#: Lifetime of a generated Apple client secret. Apple accepts up to six months; Ferry makes a
#: fresh one for every token request, so a few minutes is plenty and a leaked one dies fast.
APPLE_SECRET_LIFETIME = 300
#: Apple's issuer, also the documented audience of its client secret JWT.
APPLE_ISSUER = "https://appleid.apple.com"
GOOGLE_ISSUER = "https://accounts.google.com"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TENANT_TEMPLATE = "{tenantid}"
#: PingOne's regions by the top-level domain of ``auth.pingone.<region>`` (North America,
#: Europe, Canada, Asia-Pacific, Australia, Singapore).
PINGONE_REGIONS = ("com", "eu", "ca", "asia", "com.au", "sg")


class Preset:
    """A vendor's defaults and quirks. Subclasses set ``name`` and override hooks.

    Example::

        class AcmePreset(Preset):
            name = "acme"
            requires = ("domain",)

            def issuer(self, settings):
                return f"https://{settings.domain}/oidc"
    """

    name: ClassVar[str] = ""
    #: Settings this vendor needs besides the client id (and secret).
    requires: ClassVar[tuple[str, ...]] = ()
    default_scope: ClassVar[str] = "openid email profile"
    #: ``client_auth`` used when the settings do not say (None: from the discovery document).
    default_client_auth: ClassVar[str | None] = None
    #: Whether the vendor generates the client secret from a key (no ``client_secret`` setting).
    generated_secret: ClassVar[bool] = False

    def issuer(self, settings: OidcSettings) -> str:
        raise NotImplementedError

    def problems(self, settings: OidcSettings) -> list[str]:
        """Vendor-specific setting problems, for start-up validation."""
        return []

    def discovery_issuer_ok(self, settings: OidcSettings, configured: str, discovered: str) -> bool:
        return discovered == configured

    def token_issuers(self, discovered: str, claims: dict[str, Any]) -> list[str]:
        return [discovered]

    def response_mode(self, settings: OidcSettings, scopes: list[str]) -> str | None:
        """A response mode the vendor requires for these scopes (None: the setting's)."""
        return None

    def client_secret(self, settings: OidcSettings, issuer: str) -> str | None:
        return settings.client_secret

    def extra_claims(self, params: dict[str, str]) -> dict[str, Any]:
        return {}


class GenericPreset(Preset):
    """No preset: everything comes from ``issuer`` and the discovery document."""

    def issuer(self, settings: OidcSettings) -> str:
        assert settings.issuer is not None  # checked at start-up
        return settings.issuer


class GooglePreset(Preset):
    name = "google"

    def issuer(self, settings: OidcSettings) -> str:
        return GOOGLE_ISSUER

    def token_issuers(self, discovered: str, claims: dict[str, Any]) -> list[str]:
        # Google documents both forms of "iss" in its ID tokens.
        return [discovered, "accounts.google.com"] if discovered == GOOGLE_ISSUER else [discovered]


class MicrosoftPreset(Preset):
    """Microsoft Entra ID (v2.0 endpoints). ``tenant``: a tenant id or domain, ``organizations``
    (any work or school account), ``common`` (those and personal accounts) or ``consumers``."""

    name = "microsoft"
    requires = ("tenant",)

    def issuer(self, settings: OidcSettings) -> str:
        return f"https://login.microsoftonline.com/{settings.tenant}/v2.0"

    def discovery_issuer_ok(self, settings: OidcSettings, configured: str, discovered: str) -> bool:
        if discovered == configured:
            return True
        tenant = settings.tenant or ""
        marker = f"/{tenant}/"
        if _GUID.match(tenant) or marker not in configured:
            return False
        # A tenant named by domain or an alias (common, organizations, consumers): the document
        # names the tenant by its id, or by the {tenantid} template for multi-tenant endpoints.
        before, after = configured.split(marker, 1)
        if not (discovered.startswith(before + "/") and discovered.endswith("/" + after)):
            return False
        middle = discovered[len(before) + 1:len(discovered) - len(after) - 1]
        return bool(_GUID.match(middle)) or middle == _TENANT_TEMPLATE

    def token_issuers(self, discovered: str, claims: dict[str, Any]) -> list[str]:
        if _TENANT_TEMPLATE not in discovered:
            return [discovered]
        tenant_id = claims.get("tid")
        if not isinstance(tenant_id, str) or not _GUID.match(tenant_id):
            return []  # no tenant to fill the template with: no issuer is acceptable
        return [discovered.replace(_TENANT_TEMPLATE, tenant_id)]


class Auth0Preset(Preset):
    name = "auth0"
    requires = ("domain",)

    def issuer(self, settings: OidcSettings) -> str:
        return f"https://{settings.domain}/"  # Auth0's issuer ends with a slash


class OktaPreset(Preset):
    """Okta: ``authorization_server`` = ``default`` (the default custom server), another custom
    server's id, or ``org`` (the org authorization server)."""

    name = "okta"
    requires = ("domain",)

    def issuer(self, settings: OidcSettings) -> str:
        if settings.authorization_server == "org":
            return f"https://{settings.domain}"
        return f"https://{settings.domain}/oauth2/{settings.authorization_server}"


class KeycloakPreset(Preset):
    name = "keycloak"
    requires = ("base_url", "realm")

    def issuer(self, settings: OidcSettings) -> str:
        assert settings.base_url is not None
        return f"{settings.base_url.rstrip('/')}/realms/{settings.realm}"


class ApplePreset(Preset):
    """Sign in with Apple: the client id is the Services ID; the secret is an ES256 JWT signed
    with the team's key (``team_id``, ``key_id``, ``private_key``), made per token request."""

    name = "apple"
    requires = ("team_id", "key_id", "private_key")
    default_scope = "openid name email"
    default_client_auth = "client_secret_post"
    generated_secret = True

    def issuer(self, settings: OidcSettings) -> str:
        return APPLE_ISSUER

    def problems(self, settings: OidcSettings) -> list[str]:
        problems = []
        if settings.client_secret:
            problems.append("client_secret: Apple's is generated from private_key; remove it")
        if settings.private_key:
            try:
                key = ECKey.import_key(settings.private_key)
            except (JoseError, ValueError, TypeError):
                key = None
            if key is None or not key.is_private or key.curve_name != "P-256":
                problems.append("private_key: not a P-256 private key in PEM (the .p8 file from Apple)")
        return problems

    def response_mode(self, settings: OidcSettings, scopes: list[str]) -> str | None:
        # Apple refuses the query response mode when the name or e-mail is requested.
        return "form_post" if {"name", "email"} & set(scopes) else None

    def client_secret(self, settings: OidcSettings, issuer: str) -> str | None:
        now = int(time.time())
        claims = {"iss": settings.team_id, "iat": now, "exp": now + APPLE_SECRET_LIFETIME,
                  "aud": issuer, "sub": settings.client_id}
        key = ECKey.import_key(settings.private_key)
        return jwt.encode({"alg": "ES256", "kid": settings.key_id}, claims, key, algorithms=["ES256"])

    def extra_claims(self, params: dict[str, str]) -> dict[str, Any]:
        """The name from the ``user`` form field (first authorization only).

        The field comes through the browser unsigned, so only the name is taken from it; the
        e-mail address is read from the signed ID token alone.
        """
        raw = params.get("user")
        if not raw or len(raw) > 4096:
            return {}
        try:
            user = json.loads(raw)
        except (ValueError, RecursionError):
            return {}
        name = user.get("name") if isinstance(user, dict) else None
        if not isinstance(name, dict):
            return {}
        claims = {}
        for source, target in (("firstName", "given_name"), ("lastName", "family_name")):
            value = name.get(source)
            if isinstance(value, str) and value.strip():
                claims[target] = value.strip()[:200]
        full = " ".join(claims[k] for k in ("given_name", "family_name") if k in claims)
        if full:
            claims["name"] = full
        return claims


class PingFederatePreset(Preset):
    """PingFederate: the issuer is the server's base URL (``https://<host>:9031`` by default;
    the *Base URL* of System > Server > Protocol Settings, or a virtual host name)."""

    name = "pingfederate"
    requires = ("base_url",)

    def issuer(self, settings: OidcSettings) -> str:
        assert settings.base_url is not None
        return settings.base_url.rstrip("/")


class PingOnePreset(Preset):
    """PingOne: ``https://auth.pingone.<region>/<environment_id>/as``."""

    name = "pingone"
    requires = ("environment_id",)

    def issuer(self, settings: OidcSettings) -> str:
        return f"https://auth.pingone.{settings.region}/{settings.environment_id}/as"

    def problems(self, settings: OidcSettings) -> list[str]:
        if settings.environment_id and not _GUID.match(settings.environment_id):
            return ["environment_id: not a PingOne environment id (a UUID)"]
        return []


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (GooglePreset(), MicrosoftPreset(), Auth0Preset(), OktaPreset(),
                   KeycloakPreset(), ApplePreset(), PingFederatePreset(), PingOnePreset())
}
GENERIC = GenericPreset()
#: Settings that only mean something to some presets, and which ones.
PRESET_SETTINGS: dict[str, tuple[str, ...]] = {
    "tenant": ("microsoft",),
    "domain": ("auth0", "okta"),
    "authorization_server": ("okta",),
    "base_url": ("keycloak", "pingfederate"),
    "realm": ("keycloak",),
    "team_id": ("apple",),
    "environment_id": ("pingone",),
    "region": ("pingone",),
}


def preset_for(name: str | None) -> Preset:
    """The preset called ``name``; the generic one (issuer and discovery only) for None."""
    return PRESETS[name] if name else GENERIC


_LOOPBACK = ("localhost", "127.0.0.1", "::1")


def checked_url(value: str | None, what: str = "URL") -> str | None:
    """https, or plain http to a loopback host (local development and tests only)."""
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and parts.hostname in _LOOPBACK:
        return value
    raise ValueError(f"{what} must be https (plain http only to localhost)")
