"""The connector family: base classes, the identity they return, and their errors.

A connector never decides what the user sees. It returns an :class:`ExternalIdentity` or raises
one of the :class:`ConnectorError` family, and the journey step turns that into an outcome:

* :class:`InvalidCredentials`: the legacy IDP said no (wrong password or unknown user; the two
  are deliberately not told apart).
* :class:`LegacyUnavailable`: the legacy IDP could not answer properly (timeout, refused
  connection, TLS failure, 5xx, garbage, or Ferry's own settings are wrong). Never the user's
  fault: nothing is counted against them and no local user is touched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from plugins import Registry, register_subclass
from settings.errors import ConfigError, pydantic_problems
from users.mapping import DEFAULT_MAPPING, validate_mapping

log = logging.getLogger(__name__)


class ConnectorError(Exception):
    """Base of every error a connector raises."""


class InvalidCredentials(ConnectorError):
    """The legacy IDP refused the identifier and secret."""


class LegacyUnavailable(ConnectorError):
    """The legacy IDP is unreachable, broken, or misconfigured; ``reason`` is for operators."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ExternalIdentity:
    """Who the legacy IDP says the user is: a stable subject and the raw claims to map."""

    connector: str
    subject: str
    claims: dict[str, Any] = field(default_factory=dict)

    def to_context(self) -> dict[str, Any]:
        return {"connector": self.connector, "subject": self.subject, "claims": self.claims}

    @classmethod
    def from_context(cls, data: dict[str, Any]) -> ExternalIdentity:
        return cls(data["connector"], data["subject"], dict(data.get("claims") or {}))


class ConnectorSettings(BaseModel):
    """Settings every connector instance accepts; a type adds its own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    display_name: str | None = Field(None, description="Name shown to users and operators.")
    mapping: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_MAPPING),
        description="Local attribute -> legacy claim path (see users.mapping).",
    )
    connect_timeout: float | None = Field(None, gt=0, description="Seconds; default from [ferry].")
    read_timeout: float | None = Field(None, gt=0, description="Seconds; default from [ferry].")
    send_identifier: Literal["normalised", "as_typed"] = Field(
        "normalised",
        description="What the legacy IDP receives: the normalised identifier (trimmed, "
        "lower-case) or, for a legacy store that compares case-sensitively, what the user typed "
        "(trimmed).",
    )


class Connector:
    """A configured legacy IDP. Subclasses set ``type`` and ``Settings``.

    Example::

        class AcmeConnector(PasswordConnector):
            type = "acme"

            class Settings(ConnectorSettings):
                base_url: str

            def verify(self, identifier, password):
                ...
    """

    registry: ClassVar[Registry] = Registry("connector", "connectors")
    type: ClassVar[str] = ""
    Settings: ClassVar[type[ConnectorSettings]] = ConnectorSettings

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        register_subclass(cls.registry, cls)

    def __init__(self, name: str, settings: ConnectorSettings, config: Any) -> None:
        self.name = name
        self.settings = settings
        self.connect_timeout = settings.connect_timeout or config["LEGACY_CONNECT_TIMEOUT"]
        self.read_timeout = settings.read_timeout or config["LEGACY_READ_TIMEOUT"]

    @classmethod
    def from_table(cls, name: str, table: dict[str, Any], config: Any) -> Connector:
        where = f"connectors.{name}"
        try:
            settings = cls.Settings(**table)
        except ValidationError as error:
            raise ConfigError(pydantic_problems(error, where)) from None
        problems = [f"{where}.mapping.{p}" for p in validate_mapping(settings.mapping)]
        if problems:
            raise ConfigError(problems)
        return cls(name, settings, config)

    @property
    def label(self) -> str:
        return self.settings.display_name or self.name

    @property
    def mapping(self) -> dict[str, str]:
        return self.settings.mapping

    def unavailable(self, reason: str) -> LegacyUnavailable:
        """Log ``reason`` for the operator and return the error to raise (never a secret)."""
        log.warning("legacy IDP %s unavailable: %s", self.name, reason)
        return LegacyUnavailable(reason)

    def legacy_identifier(self, normalised: str, typed: str | None) -> str:
        """The identifier to send to the legacy IDP (see ``send_identifier``)."""
        if self.settings.send_identifier == "as_typed" and typed:
            return typed.strip()
        return normalised


class PasswordConnector(Connector):
    """A legacy IDP that checks an identifier and a password for Ferry."""

    def verify(self, identifier: str, password: str) -> ExternalIdentity:
        """Check the pair at the legacy IDP.

        Return the identity on success; raise :class:`InvalidCredentials` when the legacy IDP
        refuses, :class:`LegacyUnavailable` when it cannot answer. ``identifier`` is already
        normalised. Never log ``password``.
        """
        raise NotImplementedError
