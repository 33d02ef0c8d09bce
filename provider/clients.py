"""Registered apps (OAuth clients): their settings, and the object authlib asks about them.

``[apps.<client_id>]`` tables are validated at start-up and written to the ``oauth_client``
table, which is what the provider reads (the admin portal will add rows of its own).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin, scope_to_list
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from models import OAuthClient, db, utcnow
from settings.errors import ConfigError, pydantic_problems

SUPPORTED_SCOPES = ["openid", "email", "profile", "phone"]


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def check_redirect_uri(value: str) -> str:
    parts = urlsplit(value)
    if parts.fragment or "#" in value:
        raise ValueError(f"{value!r}: a redirect URI has no fragment")
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return value
    raise ValueError(f"{value!r}: must be https (http only on localhost)")


class AppSettings(BaseModel):
    """``[apps.<client_id>]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    client_secret: str | None = Field(None, description="Absent: a public client (PKCE required).")
    redirect_uris: list[str] = Field(min_length=1)
    post_logout_redirect_uris: list[str] = Field(default_factory=list)
    journey: str | None = None
    theme: str | None = None
    scopes: list[str] = Field(default_factory=lambda: list(SUPPORTED_SCOPES))
    code_ttl: int | None = Field(None, ge=10, le=600)
    access_token_ttl: int | None = Field(None, ge=60)
    id_token_ttl: int | None = Field(None, ge=60)

    @field_validator("redirect_uris", "post_logout_redirect_uris")
    @classmethod
    def _uris(cls, values: list[str]) -> list[str]:
        return [check_redirect_uri(value) for value in values]

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, values: list[str]) -> list[str]:
        unknown = sorted(set(values) - set(SUPPORTED_SCOPES))
        if unknown:
            raise ValueError(f"unsupported scopes {unknown} (supported: {SUPPORTED_SCOPES})")
        return values

    @field_validator("client_secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 16:
            raise ValueError("must be at least 16 characters")
        return value


def hash_secret(secret: str) -> str:
    # Client secrets are long random strings, so a fast hash suffices (no dictionary to try).
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()


class Client(ClientMixin):
    """An app as authlib sees it, backed by an ``oauth_client`` row."""

    def __init__(self, row: OAuthClient) -> None:
        self.row = row
        self.client_id = row.client_id
        self.client_metadata = {"post_logout_redirect_uris": list(row.post_logout_redirect_uris)}

    @property
    def is_public(self) -> bool:
        return self.row.secret_hash is None

    @property
    def name(self) -> str:
        return self.row.name

    def setting(self, name: str, default: Any) -> Any:
        value = (self.row.settings or {}).get(name)
        return default if value is None else value

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # OpenID Connect: the request must name its redirect_uri

    def get_allowed_scope(self, scope: str) -> str:
        allowed = set(self.row.scopes)
        return " ".join(s for s in scope_to_list(scope) or [] if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.row.redirect_uris  # exact match, character for character

    def check_client_secret(self, client_secret: str) -> bool:
        if self.row.secret_hash is None or not isinstance(client_secret, str):
            return False
        return hmac.compare_digest(self.row.secret_hash, hash_secret(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.is_public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


def find(client_id: str | None) -> Client | None:
    if not client_id or not isinstance(client_id, str) or len(client_id) > 100:
        return None
    row = OAuthClient.get_or_none(OAuthClient.client_id == client_id)
    return Client(row) if row else None


def validate_apps(tables: dict[str, dict], journeys: set[str]) -> dict[str, AppSettings]:
    apps, problems = {}, []
    for client_id, table in tables.items():
        try:
            app_settings = AppSettings(**table)
        except ValidationError as error:
            problems.extend(pydantic_problems(error, f"apps.{client_id}"))
            continue
        if app_settings.journey and app_settings.journey not in journeys:
            problems.append(f"apps.{client_id}.journey: no journey named {app_settings.journey!r}")
        apps[client_id] = app_settings
    if problems:
        raise ConfigError(problems, "apps")
    return apps


def sync_config_apps(apps: dict[str, AppSettings], default_journey: str) -> None:
    """Make the ``oauth_client`` rows that came from the file match the file."""
    with db.atomic():
        for client_id, app_settings in apps.items():
            values = {
                "name": app_settings.name or client_id,
                "secret_hash": hash_secret(app_settings.client_secret)
                if app_settings.client_secret else None,
                "redirect_uris": app_settings.redirect_uris,
                "post_logout_redirect_uris": app_settings.post_logout_redirect_uris,
                "scopes": app_settings.scopes,
                "journey": app_settings.journey or default_journey,
                "theme": app_settings.theme,
                "settings": {k: getattr(app_settings, k)
                             for k in ("code_ttl", "access_token_ttl", "id_token_ttl")},
                "source": "config",
                "updated_at": utcnow(),
            }
            updated = OAuthClient.update(**values).where(OAuthClient.client_id == client_id).execute()
            if not updated:
                OAuthClient.create(client_id=client_id, **values)
        OAuthClient.delete().where(
            (OAuthClient.source == "config") & OAuthClient.client_id.not_in(list(apps) or [""])
        ).execute()
