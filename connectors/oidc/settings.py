"""The ``oidc`` connector's settings model, checked at start-up (presets' needs included).

Every key is described in ``connectors/oidc/__init__.py``; what a preset needs, and the
settings that only some presets take, come from :mod:`connectors.oidc.presets`.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from pydantic import Field, field_validator, model_validator

from connectors.base import ConnectorSettings
from connectors.oidc.presets import PRESET_SETTINGS, checked_url, preset_for

#: Authorization request parameters Ferry sets itself; ``extra_authorize_params`` may not.
RESERVED_PARAMS = frozenset({
    "response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge",
    "code_challenge_method", "response_mode", "acr_values", "claims", "request", "request_uri",
})


class OidcSettings(ConnectorSettings):
    """``[connectors.<name>]`` with ``type = "oidc"`` (every key is described in the package)."""

    preset: Literal["google", "apple", "microsoft", "auth0", "okta", "keycloak", "pingfederate",
                    "pingone"] | None = None
    issuer: str | None = None
    client_id: str = Field(min_length=1)
    client_secret: str | None = None
    client_auth: Literal["client_secret_basic", "client_secret_post", "private_key_jwt",
                         "none"] | None = None
    scope: str | None = None
    response_mode: Literal["query", "form_post"] | None = None
    acr_values: str | None = None
    claims: dict[str, Any] | None = None
    extra_authorize_params: dict[str, str] = Field(default_factory=dict)
    subject_claim: str = "sub"
    use_userinfo: bool = True
    clock_skew: int = Field(60, ge=0, le=600)
    metadata_ttl: int = Field(3600, ge=0)
    # -- what presets need
    tenant: str | None = None
    domain: str | None = None
    authorization_server: str = "default"
    base_url: str | None = None
    realm: str | None = None
    team_id: str | None = None
    key_id: str | None = None
    private_key: str | None = None
    environment_id: str | None = None
    region: Literal["com", "eu", "ca", "asia", "com.au", "sg"] = "com"  # PINGONE_REGIONS

    @field_validator("issuer")
    @classmethod
    def _issuer_url(cls, value: str | None) -> str | None:
        return checked_url(value, "issuer")

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return checked_url(value, "base_url")

    @field_validator("claims", mode="before")
    @classmethod
    def _claims_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ValueError("must be a table or a JSON object") from None
        if isinstance(value, dict) and not set(value) <= {"id_token", "userinfo"}:
            raise ValueError("may only hold 'id_token' and 'userinfo'")
        return value

    @field_validator("extra_authorize_params")
    @classmethod
    def _not_reserved(cls, value: dict[str, str]) -> dict[str, str]:
        taken = sorted(set(value) & RESERVED_PARAMS)
        if taken:
            raise ValueError(f"Ferry sets {', '.join(taken)} itself")
        return value

    @field_validator("tenant", "domain", "realm", "authorization_server", "team_id", "key_id",
                     "environment_id")
    @classmethod
    def _plain_name(cls, value: str | None) -> str | None:
        if value is not None and (not value or any(c in value for c in "/?#@ \\")):
            raise ValueError("must be a bare name (no slashes, spaces or URL parts)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> OidcSettings:
        problems = []
        preset = preset_for(self.preset)
        if self.preset is None and not self.issuer:
            problems.append("issuer: required without a preset")
        for name in preset.requires:
            if not getattr(self, name):
                problems.append(f"{name}: required by preset {self.preset!r}")
        for name, presets in PRESET_SETTINGS.items():
            if name in self.model_fields_set and self.preset not in presets:
                problems.append(f"{name}: only for preset {' or '.join(presets)}")
        for name in ("key_id", "private_key"):
            if getattr(self, name) and not (self.preset == "apple"
                                            or self.client_auth == "private_key_jwt"):
                problems.append(f"{name}: only for preset apple or client_auth private_key_jwt")
        if self.client_auth == "private_key_jwt" and not self.private_key:
            problems.append("private_key: required by client_auth private_key_jwt")
        if self.client_auth not in ("none", "private_key_jwt") \
                and not (self.client_secret or preset.generated_secret):
            problems.append("client_secret: required (or client_auth = \"none\" for a public "
                            "client, \"private_key_jwt\" with private_key)")
        if self.client_auth == "private_key_jwt" and self.private_key:
            problems.extend(_signing_key_problems(self.private_key))
        if "openid" not in self.scopes:
            problems.append("scope: must include openid")
        problems.extend(preset.problems(self))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def scopes(self) -> list[str]:
        return (self.scope or preset_for(self.preset).default_scope).split()


_EC_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}


def signing_key(pem: str) -> tuple[RSAKey | ECKey, str]:
    """The private key for ``private_key_jwt`` and the algorithm it signs with."""
    try:
        return RSAKey.import_key(pem), "RS256"
    except (JoseError, ValueError, TypeError):
        key = ECKey.import_key(pem)
        return key, _EC_ALGORITHMS[key.curve_name]


def _signing_key_problems(pem: str) -> list[str]:
    try:
        key, _alg = signing_key(pem)
    except (JoseError, ValueError, TypeError, KeyError):
        return ["private_key: not an RSA or EC (P-256, P-384, P-521) private key in PEM"]
    return [] if key.is_private else ["private_key: a public key; the private one is needed"]
