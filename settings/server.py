"""Server settings: the ``[ferry]`` table of the configuration file, or ``FERRY_<NAME>``.

Each field below is documented where it is declared; the README's settings table mirrors them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from limits import parse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from settings.errors import ConfigError, pydantic_problems

# Environment variables that steer loading itself and are therefore not settings.
_LOADER_VARIABLES = {"FERRY_CONFIG", "FERRY_INSTANCE_PATH"}
_TWILIO_SID_DIGITS = "[0-9a-fA-F]{32}"


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
    otp_sends_per_identifier: str = Field(
        "5 per hour",
        description="One-time codes sent per identifier to browsers that never signed in as it; "
        "each browser that did (a known device) has a budget of this size of its own.",
    )
    otp_sends_per_ip: str = Field(
        "50 per hour", description="One-time codes sent per client IP (known devices aside)."
    )
    otp_sends_per_session: str = Field(
        "10 per hour", description="One-time codes sent per sign-in journey run."
    )
    known_device_lifetime: int = Field(
        180 * 86400, ge=0,
        description="Seconds a browser stays a known device of the identifiers it signed in "
        "as (its own one-time-code budget); 0: no known-device cookie.",
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
    refresh_token_ttl: int = Field(2592000, ge=300, description="Seconds a refresh token family lives.")
    refresh_token_idle_ttl: int = Field(1209600, ge=300, description="Seconds an unused refresh token lives.")
    legacy_connect_timeout: float = Field(
        3.0, gt=0, description="Default connect timeout for calls to a legacy IDP (seconds)."
    )
    legacy_read_timeout: float = Field(
        10.0, gt=0, description="Default read timeout for calls to a legacy IDP (seconds)."
    )
    default_journey: str = Field("sign-in", description="Journey for apps that name none.")
    webauthn_rp_id: str = Field(
        "",
        description="WebAuthn relying party ID of passkeys (a registrable domain). "
        "Default: the issuer's host.",
    )
    webauthn_origins: list[str] = Field(
        default_factory=list,
        description="Origins passkey ceremonies may come from. Default: the issuer's origin.",
    )
    webauthn_user_verification: Literal["required", "preferred"] = Field(
        "required",
        description="Whether a passkey must verify the user (PIN, biometrics) or only should.",
    )
    trusted_proxies: int = Field(
        0, ge=0, description="Reverse proxies in front of Ferry whose X-Forwarded-* to trust."
    )
    otp_sender: Literal["smtp", "log"] = Field(
        "log",
        description="How one-time codes are delivered: smtp, or log (development only: the "
        "code is written to Ferry's log).",
    )
    smtp_host: str = Field("localhost", description="SMTP server for one-time codes.")
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP server port.")
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        "starttls", description="none, starttls (upgrade after connecting) or tls (implicit TLS)."
    )
    smtp_username: str = Field("", description="SMTP login; empty: no login.")
    smtp_password: str = Field("", description="SMTP password (use FERRY_SMTP_PASSWORD).")
    smtp_timeout: float = Field(10.0, gt=0, description="Seconds to wait for the SMTP server.")
    mail_from: str = Field(
        "Ferry <no-reply@localhost>", description="From address of the mail carrying codes."
    )
    sms_sender: Literal["none", "log", "webhook", "twilio"] = Field(
        "none",
        description="How one-time codes go by SMS: none (no SMS; journeys that want it fail at "
        "start-up), log (development only), webhook (JSON to sms_webhook_url) or twilio.",
    )
    sms_timeout: float = Field(
        10.0, gt=0, description="Seconds to wait to connect to the SMS sender, and for its answer."
    )
    sms_webhook_url: str = Field("", description="Where sms_sender = webhook POSTs its JSON.")
    sms_webhook_token: str = Field(
        "", description="Sent as Authorization: Bearer <token> to the webhook; empty: none."
    )
    sms_webhook_secret: str = Field(
        "",
        description="Key of the X-Ferry-Signature header (HMAC-SHA256 of the body); empty: none. "
        "A webhook needs a token, a secret or both.",
    )
    twilio_account_sid: str = Field("", description="Twilio account SID (AC...).")
    twilio_api_key_sid: str = Field(
        "", description="Twilio API key SID (SK...) to log in with instead of the account SID."
    )
    twilio_auth_token: str = Field(
        "", description="Twilio auth token, or the API key's secret when twilio_api_key_sid is set."
    )
    twilio_from: str = Field(
        "", description="Twilio sender: an E.164 number of the account, or an alphanumeric ID."
    )
    twilio_messaging_service_sid: str = Field(
        "", description="Twilio Messaging Service (MG...) that picks the sender; wins over From."
    )
    twilio_base_url: str = Field(
        "https://api.twilio.com", description="Twilio's API base URL (regional or a test double)."
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

    @field_validator("failed_signins_per_identifier", "otp_sends_per_identifier",
                     "otp_sends_per_ip", "otp_sends_per_session")
    @classmethod
    def _rate(cls, value: str) -> str:
        try:
            parse(value)
        except ValueError:
            raise ValueError('must be a rate like "10 per 15 minutes"') from None
        return value

    @field_validator("sms_webhook_url", "twilio_base_url")
    @classmethod
    def _sms_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if value and (parts.scheme not in ("https", "http") or not parts.hostname
                      or parts.fragment):
            raise ValueError("must be an absolute http(s) URL")
        return value

    @field_validator("webauthn_origins", mode="before")
    @classmethod
    def _origins_list(cls, value: Any) -> Any:
        # FERRY_WEBAUTHN_ORIGINS arrives as one string: origins separated by commas.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("webauthn_origins")
    @classmethod
    def _origins_are_origins(cls, values: list[str]) -> list[str]:
        for value in values:
            parts = urlsplit(value)
            if parts.scheme not in ("https", "http") or not parts.netloc or parts.path or parts.query:
                raise ValueError(f"{value!r}: an origin is scheme://host[:port], nothing more")
        return values

    @model_validator(mode="after")
    def _webauthn_defaults(self) -> ServerSettings:
        # Frozen model: fill the defaults that derive from the issuer once, at validation.
        issuer = urlsplit(self.issuer)
        if not self.webauthn_rp_id:
            object.__setattr__(self, "webauthn_rp_id", issuer.hostname or "")
        if not self.webauthn_origins:
            object.__setattr__(self, "webauthn_origins", [f"{issuer.scheme}://{issuer.netloc}"])
        return self

    def sms_problems(self) -> list[str]:
        """What the chosen ``sms_sender`` still lacks, each with the setting to fill in."""
        problems = []
        if self.sms_sender == "webhook":
            if not self.sms_webhook_url:
                problems.append('ferry.sms_webhook_url: required when sms_sender = "webhook"')
            if not (self.sms_webhook_token or self.sms_webhook_secret):
                problems.append('ferry.sms_webhook_secret: sms_sender = "webhook" needs '
                                "sms_webhook_secret or sms_webhook_token (or both), so the "
                                "receiver can tell Ferry's requests from anyone's")
        if self.sms_sender == "twilio":
            sids = {"twilio_account_sid": ("AC", True), "twilio_api_key_sid": ("SK", False),
                    "twilio_messaging_service_sid": ("MG", False)}
            for name, (prefix, required) in sids.items():
                value = getattr(self, name)
                if required and not value:
                    problems.append(f'ferry.{name}: required when sms_sender = "twilio"')
                elif value and not re.fullmatch(prefix + _TWILIO_SID_DIGITS, value):
                    problems.append(f"ferry.{name}: a Twilio SID is {prefix} and 32 hex digits")
            if not self.twilio_auth_token:
                problems.append('ferry.twilio_auth_token: required when sms_sender = "twilio"')
            if not (self.twilio_from or self.twilio_messaging_service_sid):
                problems.append('ferry.twilio_from: sms_sender = "twilio" needs twilio_from or '
                                "twilio_messaging_service_sid")
        return problems

    @classmethod
    def validated(cls, values: Mapping[str, Any]) -> ServerSettings:
        try:
            settings = cls(**values)
        except ValidationError as error:
            raise ConfigError(pydantic_problems(error, "ferry")) from None
        problems = settings.sms_problems()
        if problems:
            raise ConfigError(problems)
        return settings


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
