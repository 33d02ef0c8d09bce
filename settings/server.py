"""Server settings: the ``[ferry]`` table of the configuration file, or ``FERRY_<NAME>``.

Each field below is documented where it is declared; the `[ferry]` table of docs/configuration.md is
generated from these descriptions (`python -m settings.reference --write`).
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
        description="Signs session cookies, CSRF tokens and the known-device cookie, keys the HMAC of "
        "one-time codes and seals the client secrets of `client_secret_jwt` apps. Same value on every "
        "server; changing it signs everyone out.",
    )
    database_url: str = Field(
        "", description="`sqlite:///path` or `postgresql://user:pass@host:port/db` (`?max_connections=20`)."
    )
    migrate_on_start: bool = Field(
        True, description="Apply pending schema migrations when a server starts (under a lock)."
    )
    ratelimit_storage_uri: str = Field(
        "memory://", description="Rate-limit and throttle storage: `memory://` or `redis://host:port/db`. "
        "With Redis, the limits, the one-time-code budgets, the connectors' circuit breakers and the SAML "
        "assertion ids already used are shared by every worker and server."
    )
    signin_rate_limit: str = Field(
        "30 per minute", description="Sign-in form posts allowed per client IP address."
    )
    failed_signins_per_identifier: str = Field(
        "10 per 15 minutes",
        description="Wrong passwords allowed per identifier (any IP) before it is throttled. Counted "
        "atomically before the password is checked (so parallel requests never get more checks than this) "
        "and given back when it was right or the legacy IDP could not answer: legacy outages never count. A "
        'throttled attempt gets "Too many attempts" after the same one hash check as any other.',
    )
    otp_sends_per_identifier: str = Field(
        "5 per hour",
        description="One-time codes sent per identifier to browsers that never signed in as it. A browser "
        "that did (a *known device*: a signed cookie set at sign-in) has a budget of this size of its own, "
        "so a send storm against someone's address cannot keep them from signing in.",
    )
    otp_sends_per_ip: str = Field(
        "50 per hour", description="One-time codes sent per client IP address (see `trusted_proxies`), "
        "whatever the address; known devices are not counted here, so colleagues behind one NAT address do "
        "not lock each other out."
    )
    otp_sends_per_session: str = Field(
        "10 per hour", description="One-time codes sent per sign-in journey run (one browser's sign-in), "
        "whatever the address."
    )
    known_device_lifetime: int = Field(
        180 * 86400, ge=0,
        description="Seconds a browser stays a known device of the identifiers it signed in as (at most 5; "
        "renewed at each sign-in). The cookie (`ferry_device`, `__Host-` over https, HttpOnly) holds a "
        "random id and keyed digests of the identifiers, never the addresses; it signs nobody in. `0`: no "
        "such cookie.",
    )
    token_rate_limit: str = Field("120 per minute", description="Token requests per client IP.")
    journey_ttl: int = Field(
        900, ge=60, description="Seconds a sign-in journey may take before it expires."
    )
    session_cookie_name: str = Field("ferry_session", description="Name of Ferry's cookie (HttpOnly, "
        "SameSite=Lax; over https Secure and prefixed `__Host-`).")
    session_lifetime: int = Field(
        8 * 3600, ge=60, description="Seconds a Ferry sign-in session lasts (single sign-on between apps)."
    )
    max_request_bytes: int = Field(
        64 * 1024, ge=1024, description="Largest request body accepted."
    )
    max_field_length: int = Field(
        256, ge=16, description="Longest identifier or password accepted on a form."
    )
    password_time_cost: int = Field(2, ge=1, description="argon2id iterations.")
    password_memory_cost: int = Field(19456, ge=8192, description="argon2id memory in KiB. Hashes with "
        "other parameters are upgraded at the next sign-in.")
    password_parallelism: int = Field(1, ge=1, description="argon2id lanes.")
    store_keys: str = Field(
        "", description="Fernet keys (comma-separated; the first seals) for the secrets of the live "
        "configuration store. Rotate: put a new key first, run `flask --app app ferry store rotate-keys`, "
        "then drop the old one. Empty: derived from `secret_key` (demo only).")
    password_min_length: int = Field(
        8, ge=6, le=64, description="Shortest new password Ferry accepts (sign-up, reset, change). A "
        "legacy password shorter than this is handled by the journey's `password_policy` step.")
    password_reject_common: bool = Field(
        True, description="Refuse new passwords found among the 30,000 most common passwords of public "
        "breaches (zxcvbn's list, shipped offline: no request leaves the server).")
    code_ttl: int = Field(60, ge=10, le=600, description="Seconds an authorization code lives.")
    access_token_ttl: int = Field(3600, ge=60, description="Seconds an access token lives.")
    id_token_ttl: int = Field(3600, ge=60, description="Seconds an ID token is valid.")
    refresh_token_ttl: int = Field(2592000, ge=300, description="Absolute lifetime of a refresh token "
        "family: rotation never extends it.")
    refresh_token_idle_ttl: int = Field(1209600, ge=300, description="A refresh token unused this long is "
        "dead.")
    legacy_connect_timeout: float = Field(
        3.0, gt=0, description="Default connect timeout for calls to a legacy IDP (seconds)."
    )
    legacy_read_timeout: float = Field(
        10.0, gt=0, description="Default read timeout for calls to a legacy IDP (seconds)."
    )
    default_journey: str = Field("sign-in", description="Journey for apps that name none, and for people "
        "who open Ferry directly.")
    webauthn_rp_id: str = Field(
        "",
        description="WebAuthn relying party ID of passkeys (a registrable domain, e.g. `example.com` to "
        "share passkeys with its subdomains). Changing it orphans every passkey already registered.",
    )
    webauthn_origins: list[str] = Field(
        default_factory=list,
        description="Origins passkey ceremonies may come from (`scheme://host[:port]`; in the environment, "
        "separated by commas).",
    )
    webauthn_user_verification: Literal["required", "preferred"] = Field(
        "required",
        description="`required`: the device must verify the user (PIN, fingerprint, face) and a passkey "
        "sign-in counts as multi-factor (`amr` `hwk`, `user`, `mfa`); `preferred`: user presence is enough "
        "(`amr` `hwk`, `user`).",
    )
    trusted_proxies: int = Field(
        0, ge=0, description="Reverse proxies in front of Ferry whose `X-Forwarded-*` headers are trusted."
    )
    audit_retention_days: int = Field(
        400, ge=0, description="Days the audit log is kept; `db purge` deletes older events (in "
        "batches). 0: kept forever. The dashboard's failure and enrollment figures read it.",
    )
    legacy_call_retention_days: int = Field(
        90, ge=0, description="Days the record of legacy calls (the dashboard's latency) is kept; "
        "`db purge` deletes older rows. 0: kept forever.",
    )
    metrics_token: str = Field(
        "", description="Bearer token that lets a remote Prometheus read `/metrics` (`Authorization: "
        "Bearer <token>`; at least 16 characters; `\"env:NAME\"` in the file). Empty: only loopback "
        "requests that came through no proxy may read it. See *Metrics* in docs/operations.md.",
    )
    otp_sender: Literal["smtp", "log"] = Field(
        "log",
        description="How one-time codes are delivered: `smtp`, or `log` (development only: the code is "
        "written to Ferry's log; the demo runs a local SMTP sink instead).",
    )
    smtp_host: str = Field("localhost", description="SMTP server for one-time codes.")
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP server port.")
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        "starttls", description="`none`, `starttls` (upgrade after connecting) or `tls` (implicit TLS, "
        "usually port 465); certificates are verified."
    )
    smtp_username: str = Field("", description="SMTP login; empty: no login.")
    smtp_password: str = Field("", description="SMTP password; set it through the environment variable.")
    smtp_timeout: float = Field(10.0, gt=0, description="Seconds to wait for the SMTP server; a server that "
        'is down or slow makes the page say "We could not send the code" and nothing is used up.')
    mail_from: str = Field(
        "Ferry <no-reply@localhost>", description="From address of the mail carrying codes."
    )
    sms_sender: Literal["none", "log", "webhook", "twilio"] = Field(
        "none",
        description="How one-time codes go by SMS (see *Codes by SMS* in docs/journeys.md): `none` (a "
        'journey whose `otp_send` step has `channel = "sms"` or `"any"` then fails at start-up), `log` '
        "(development only: the code is written to Ferry's log), `webhook` (signed JSON to your own "
        "gateway) or `twilio`.",
    )
    sms_timeout: float = Field(
        10.0, gt=0, description="Seconds to wait to connect to the SMS sender, and again for its answer; a "
        'sender that is down, slow or refuses makes the page say "We could not send the code" and nothing '
        "is used up."
    )
    sms_webhook_url: str = Field("", description='Where `sms_sender = "webhook"` POSTs its JSON (required '
        "for it; https in production).")
    sms_webhook_token: str = Field(
        "", description="Sent to the webhook as `Authorization: Bearer <token>`; empty: no such header."
    )
    sms_webhook_secret: str = Field(
        "",
        description="Key of the webhook's `X-Ferry-Signature: sha256=<hex>` header, the HMAC-SHA256 of "
        "`<X-Ferry-Timestamp>.` followed by the exact body; empty: unsigned. The webhook needs a token, a "
        "secret or both.",
    )
    twilio_account_sid: str = Field("", description="Twilio account SID (`AC` and 32 hex digits); required "
        'for `sms_sender = "twilio"`.')
    twilio_api_key_sid: str = Field(
        "", description="A Twilio API key SID (`SK…`) to authenticate with instead of the account SID."
    )
    twilio_auth_token: str = Field(
        "", description="The account's auth token, or the API key's secret when `twilio_api_key_sid` is "
        "set; set it through the environment variable."
    )
    twilio_from: str = Field(
        "", description="The sender: an E.164 number of the Twilio account (or an alphanumeric sender ID). "
        "This or `twilio_messaging_service_sid` is required."
    )
    twilio_messaging_service_sid: str = Field(
        "", description="A Twilio Messaging Service (`MG…`) that picks the sender itself; wins over "
        "`twilio_from`."
    )
    twilio_base_url: str = Field(
        "https://api.twilio.com", description="Twilio's API base URL (a regional API host, or a test "
        "double)."
    )
    theme_folders: list[str] = Field(
        default_factory=list,
        description="More folders holding themes (<folder>/<name>/templates, static), searched "
        "after the instance folder's themes/; relative paths start at the instance folder.",
    )
    default_theme: str = Field(
        "", description="Theme of apps that name none, and of the account page; empty: the "
        "shipped templates.",
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

    @field_validator("metrics_token")
    @classmethod
    def _long_token(cls, value: str) -> str:
        if value and len(value) < 16:
            raise ValueError("at least 16 characters (or empty: loopback only)")
        return value

    @field_validator("sms_webhook_url", "twilio_base_url")
    @classmethod
    def _sms_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if value and (parts.scheme not in ("https", "http") or not parts.hostname
                      or parts.fragment):
            raise ValueError("must be an absolute http(s) URL")
        return value

    @field_validator("theme_folders", mode="before")
    @classmethod
    def _folders_list(cls, value: Any) -> Any:
        # FERRY_THEME_FOLDERS arrives as one string: paths separated by commas.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
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
