"""The settings every connector instance accepts (:class:`ConnectorSettings`); each type adds
its own fields in a subclass. Described for operators in docs/connectors.md, "Every connector
accepts", which tests/test_docs.py holds to these fields."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.bulkhead import DEFAULT_CONCURRENT_CALLS
from connectors.deadline import DEFAULT_DEADLINE
from users.mapping import DEFAULT_MAPPING


class ConnectorSettings(BaseModel):
    """Settings every connector instance accepts; a type adds its own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    display_name: str | None = Field(None, description="Name shown to users and operators.")
    enabled: bool = Field(True, description="False: the connector answers \"unavailable\" at "
                          "once, without calling the legacy IDP (the journeys that name it still "
                          "validate; their users read the step's unavailable page).")
    mapping: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_MAPPING),
        description="Local attribute -> legacy claim path (see users.mapping).",
    )
    connect_timeout: float | None = Field(None, gt=0, description="Seconds; default from [ferry].")
    read_timeout: float | None = Field(None, gt=0, description="Seconds; default from [ferry].")
    deadline: float = Field(DEFAULT_DEADLINE, gt=0, le=25, description="Seconds one call to "
                            "this IDP may take in all (connect, TLS, every read), below 30.")
    max_response_bytes: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024,
                                    description="Largest answer read from this IDP.")
    max_concurrent_calls: int = Field(DEFAULT_CONCURRENT_CALLS, ge=1, le=256, description="Calls "
                                      "to this IDP at once per process; beyond: unavailable.")
    ca_file: str | None = Field(None, description="PEM CA certificate(s) or self-signed "
                                "certificate to trust for TLS to this IDP.")
    breaker_failures: int = Field(
        5, ge=1, description="Consecutive unavailable answers that open the circuit breaker."
    )
    breaker_reset: float = Field(
        30.0, gt=0, description="Seconds an open breaker answers at once before one trial call."
    )
    rate_limit: str | None = Field(
        None, description='Most calls Ferry makes to this IDP, e.g. "20 per second" (shared '
        "across servers through ratelimit_storage_uri).",
    )
    migration: Literal["migrate", "sync", "shadow", "closed"] = Field(
        "migrate",
        description="migrate: users move to Ferry at their first sign-in. sync: the legacy IDP "
        "stays the system of record (every sign-in is checked there and refreshes the profile; "
        "no local password is kept and a password change is refused with a pointer to the "
        "legacy side). shadow: migrated users sign in with Ferry alone while the legacy IDP is "
        "also asked in the background, mismatches counted. closed: the legacy IDP is off; it is "
        "never called, and users who never migrated are sent to set a new password (their "
        "profile comes from the roster).",
    )
    password_change_url: str | None = Field(
        None, description="migration = sync: the legacy side's page where users change their "
        "password "
        "(linked from Ferry's refusal).")
    send_identifier: Literal["normalised", "as_typed"] = Field(
        "normalised",
        description="What the legacy IDP receives: the normalised identifier (trimmed, "
        "lower-case) or, for a legacy store that compares case-sensitively, what the user typed "
        "(trimmed).",
    )

    @field_validator("password_change_url")
    @classmethod
    def _web_address(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) address")
        return value
