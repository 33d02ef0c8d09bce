"""``[apps.<client_id>]``: what an app (OAuth client) may configure, validated at start-up.

The admin portal will edit the same typed object; :class:`AppSettings` is the one interface.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from skin.settings import BrandingSettings

#: Scopes every app may ask for; custom scopes come from an app's ``scope_claims``.
STANDARD_SCOPES = ["openid", "email", "profile", "phone", "offline_access"]
GRANT_TYPES = ("authorization_code", "refresh_token")
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none")
SECRET_METHODS = ("client_secret_basic", "client_secret_post", "client_secret_jwt")

#: Claims a custom scope may never release: they belong to the standard scopes or to Ferry.
RESERVED_CLAIMS = {"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "sid",
                   "at_hash", "jti"}

#: A locale as Babel names its catalogues (de, pt_BR); pt-BR is taken too. Whether Ferry has
#: translations for it is checked at start-up by the skin (``users.locale.check``).
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[_-][A-Za-z0-9]{2,8})?")


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def check_redirect_uri(value: str) -> str:
    """https with a host, or http on loopback; no fragment (OAuth 2.0 3.1.2)."""
    parts = urlsplit(value)
    if parts.fragment or "#" in value:
        raise ValueError(f"{value!r}: a redirect URI has no fragment")
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return value
    raise ValueError(f"{value!r}: must be https (http only on localhost)")


class AppSettings(BaseModel):
    """One app. ``client_secret`` absent and ``token_endpoint_auth_method`` unset: a public client."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(
        None, description='Shown to users ("Shop asks to sign you out", the consent page).')
    client_secret: str | None = Field(
        None,
        description="At least 16 characters; stored hashed (sealed with the deployment's `secret_key` "
        "for `client_secret_jwt`, which needs it back). Absent: a public client (PKCE S256 required).",
    )
    redirect_uris: list[str] = Field(
        min_length=1,
        description="Exact match, character for character. https, or http on localhost/loopback only.",
    )
    post_logout_redirect_uris: list[str] = Field(
        default_factory=list,
        description="Where `/logout` may send the browser back (with a valid `id_token_hint`).",
    )
    journey: str | None = Field(None, description="The journey this app's users walk.")
    theme: str | None = Field(
        None, description="Theme of this app's pages (a folder themes/<name>/); default: "
        "ferry.default_theme, else the shipped templates.")
    branding: BrandingSettings | None = Field(
        None, description="Product name, logo, colours, links and texts of this app's pages, "
        "over the deployment's [branding] (see docs/themes.md).")
    default_locale: str | None = Field(
        None, description="Language of this app's pages when neither `ui_locales`, the user's saved "
        "locale nor `Accept-Language` names one Ferry has translations for (`de`, `pt_BR`: one of "
        "`ui_locales_supported`). Absent: the deployment's default (`en`).")
    signup: bool = Field(
        True, description='Offer the sign-up journey (`prompt=create` and the "Create an account" '
        'link of the sign-in page) when a journey named `sign-up` exists.')
    scopes: list[str] = Field(
        default_factory=lambda: ["openid", "email", "profile", "phone"],
        description="Scopes the app may receive; others are dropped from its requests. "
        "`offline_access` is added for apps with the refresh grant.",
    )
    scope_claims: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Custom scopes and the custom attributes they release, e.g. "
        "`{ employee = [\"employee_id\"] }`; list the scope in `scopes` too.",
    )
    grant_types: list[Literal["authorization_code", "refresh_token"]] = Field(
        default_factory=lambda: ["authorization_code"],
        description='Add `"refresh_token"` to let the app receive refresh tokens (when it asks for '
        "`offline_access`).",
    )
    token_endpoint_auth_method: Literal[
        "client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none",
    ] | None = Field(
        None,
        description="`client_secret_basic`, `client_secret_post`, `client_secret_jwt`, `private_key_jwt` "
        "or `none` (a public client: PKCE S256 required). Each app is held to its one method.",
    )
    jwks: dict | None = Field(
        None,
        description="The app's public keys, a JWK Set (for `private_key_jwt`); a private key in it is "
        "refused at start-up.",
    )
    jwks_uri: str | None = Field(
        None,
        description="Where to fetch them instead (https; 3 s connect, 5 s read, 64 KiB, cached 5 minutes).",
    )
    consent: Literal["implicit", "required"] = Field(
        "implicit",
        description="`implicit`: a first-party app, no consent page. `required`: the user allows each new "
        "set of scopes once (remembered, withdrawable on the account page).",
    )
    backchannel_logout_uri: str | None = Field(
        None,
        description="Where Ferry POSTs a Logout Token when a session this app took part in ends.",
    )
    code_ttl: int | None = Field(
        None, ge=10, le=600, description="This app's own `code_ttl`, instead of the `[ferry]` one.")
    access_token_ttl: int | None = Field(
        None, ge=60, description="This app's own `access_token_ttl`, instead of the `[ferry]` one.")
    id_token_signed_response_alg: Literal["RS256", "ES256"] = Field(
        "RS256", description="How this app's ID tokens (and back-channel logout tokens) are "
        "signed: `RS256`, which every OpenID library verifies, or `ES256` (ECDSA P-256), a "
        "shorter token and a signature about 20 times cheaper for Ferry, for apps whose "
        "library supports it (most do).")
    id_token_ttl: int | None = Field(
        None, ge=60, description="This app's own `id_token_ttl`, instead of the `[ferry]` one.")
    refresh_token_ttl: int | None = Field(
        None, ge=300, description="This app's own `refresh_token_ttl`, instead of the `[ferry]` one.")
    refresh_token_idle_ttl: int | None = Field(
        None, ge=300, description="This app's own `refresh_token_idle_ttl`, instead of the `[ferry]` one.")

    @field_validator("redirect_uris", "post_logout_redirect_uris")
    @classmethod
    def _uris(cls, values: list[str]) -> list[str]:
        return [check_redirect_uri(value) for value in values]

    @field_validator("jwks_uri", "backchannel_logout_uri")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        return None if value is None else check_redirect_uri(value)

    @field_validator("default_locale")
    @classmethod
    def _locale(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _LOCALE.fullmatch(value):
            raise ValueError(f"{value!r}: a locale is a language code like de or pt_BR")
        language, _sep, region = value.replace("-", "_").partition("_")
        return f"{language.lower()}_{region}" if region else language.lower()

    @field_validator("client_secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @field_validator("jwks")
    @classmethod
    def _jwks(cls, value: dict | None) -> dict | None:
        if value is None:
            return None
        from joserfc.jwk import KeySet

        try:
            key_set = KeySet.import_key_set(value)
        except Exception as error:  # joserfc raises several types for a bad set
            raise ValueError(f"not a JWK Set: {error}") from None
        if any(key.is_private for key in key_set.keys):
            raise ValueError("holds a private key: publish only the public half")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AppSettings:
        method = self.auth_method
        if method in SECRET_METHODS and not self.client_secret:
            raise ValueError(f"token_endpoint_auth_method {method!r} needs a client_secret")
        if method in ("none", "private_key_jwt") and self.client_secret:
            raise ValueError(f"token_endpoint_auth_method {method!r} takes no client_secret")
        if method == "private_key_jwt" and not (self.jwks or self.jwks_uri):
            raise ValueError("private_key_jwt needs the app's public keys: jwks or jwks_uri")
        if self.jwks and self.jwks_uri:
            raise ValueError("give jwks or jwks_uri, not both")
        if "authorization_code" not in self.grant_types:
            raise ValueError("grant_types must include authorization_code")
        for scope, claims in self.scope_claims.items():
            if scope in STANDARD_SCOPES:
                raise ValueError(f"scope_claims.{scope}: a standard scope cannot be redefined")
            reserved = sorted(set(claims) & RESERVED_CLAIMS)
            if reserved:
                raise ValueError(f"scope_claims.{scope}: {reserved} are not attributes")
        unknown = sorted(set(self.scopes) - set(STANDARD_SCOPES) - set(self.scope_claims))
        if unknown:
            raise ValueError(f"unsupported scopes {unknown} (supported: {STANDARD_SCOPES} and "
                             "the custom scopes of scope_claims)")
        if "offline_access" in self.scopes and "refresh_token" not in self.grant_types:
            raise ValueError("scope offline_access needs grant_types to include refresh_token")
        return self

    @property
    def auth_method(self) -> str:
        """The token endpoint's client authentication, defaulting by whether there is a secret."""
        if self.token_endpoint_auth_method:
            return self.token_endpoint_auth_method
        if self.client_secret:
            return "client_secret_basic"
        return "private_key_jwt" if (self.jwks or self.jwks_uri) else "none"

    def allowed_scopes(self) -> list[str]:
        """``scopes`` plus ``offline_access`` for apps allowed refresh tokens, and custom scopes."""
        allowed = list(dict.fromkeys([*self.scopes, *self.scope_claims]))
        if "refresh_token" in self.grant_types and "offline_access" not in allowed:
            allowed.append("offline_access")
        return allowed
