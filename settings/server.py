"""Server settings: the ``[ferry]`` table of the configuration file, or ``FERRY_<NAME>``.

Each field below is documented where it is declared; the README's settings table mirrors them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from settings.errors import ConfigError, pydantic_problems

# Environment variables that steer loading itself and are therefore not settings.
_LOADER_VARIABLES = {"FERRY_CONFIG", "FERRY_INSTANCE_PATH"}


class ServerSettings(BaseModel):
    """Every server-wide setting with its default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(
        "http://localhost:5000",
        description="Public base URL of Ferry; the OpenID issuer. https in production.",
    )
    secret_key: str = Field(
        "",
        description="Signs session cookies and CSRF tokens. Same value on every server. "
        "Default: a random key kept in the instance folder.",
    )
    database_url: str = Field(
        "", description="sqlite:///path or postgresql://user@host/db. Default: instance/ferry.db."
    )
    migrate_on_start: bool = Field(
        True, description="Apply pending schema migrations when a server starts."
    )
    ratelimit_storage_uri: str = Field(
        "memory://", description="flask-limiter storage: memory:// or redis://host:port/db."
    )
    signin_rate_limit: str = Field(
        "30 per minute", description="Sign-in form posts allowed per client IP address."
    )
    failed_signins_per_identifier: str = Field(
        "10 per 15 minutes",
        description="Wrong passwords allowed per identifier before it is throttled.",
    )
    token_rate_limit: str = Field("120 per minute", description="Token requests per client IP.")
    journey_ttl: int = Field(
        900, ge=60, description="Seconds a sign-in journey may take before it expires."
    )
    session_cookie_name: str = Field("ferry_session", description="Name of Ferry's cookie.")
    session_lifetime: int = Field(
        8 * 3600, ge=60, description="Seconds a Ferry sign-in session lasts (single sign-on)."
    )
    max_request_bytes: int = Field(
        64 * 1024, ge=1024, description="Largest request body accepted."
    )
    max_field_length: int = Field(
        256, ge=16, description="Longest identifier or password accepted on a form."
    )
    password_time_cost: int = Field(2, ge=1, description="argon2id iterations.")
    password_memory_cost: int = Field(19456, ge=8192, description="argon2id memory in KiB.")
    password_parallelism: int = Field(1, ge=1, description="argon2id lanes.")
    code_ttl: int = Field(60, ge=10, le=600, description="Seconds an authorization code lives.")
    access_token_ttl: int = Field(3600, ge=60, description="Seconds an access token lives.")
    id_token_ttl: int = Field(3600, ge=60, description="Seconds an ID token is valid.")
    legacy_connect_timeout: float = Field(
        3.0, gt=0, description="Default connect timeout for calls to a legacy IDP (seconds)."
    )
    legacy_read_timeout: float = Field(
        10.0, gt=0, description="Default read timeout for calls to a legacy IDP (seconds)."
    )
    default_journey: str = Field("sign-in", description="Journey for apps that name none.")
    trusted_proxies: int = Field(
        0, ge=0, description="Reverse proxies in front of Ferry whose X-Forwarded-* to trust."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level of Ferry's own loggers."
    )

    @field_validator("issuer")
    @classmethod
    def _issuer_is_base_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")) or "?" in value or "#" in value:
            raise ValueError("must be an absolute http(s) URL without query or fragment")
        return value.rstrip("/")

    @classmethod
    def validated(cls, values: Mapping[str, Any]) -> ServerSettings:
        try:
            return cls(**values)
        except ValidationError as error:
            raise ConfigError(pydantic_problems(error, "ferry")) from None


def settings_from_env(environ: Mapping[str, str]) -> dict[str, str]:
    """``FERRY_<NAME>`` variables that name a known setting, as raw strings for pydantic."""
    known = set(ServerSettings.model_fields)
    found = {}
    for variable, value in environ.items():
        if not variable.startswith("FERRY_") or variable in _LOADER_VARIABLES:
            continue
        name = variable[len("FERRY_") :].lower()
        if name in known:
            found[name] = value
    return found
