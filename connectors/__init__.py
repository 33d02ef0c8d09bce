"""Connectors: how Ferry talks to legacy IDPs. One module per type, one class per module; a type
made of several modules is a folder (``connectors/saml/``: the connector in ``__init__.py``, its
settings, claims and response parsing beside it).

Configuration enables *instances*: ``[connectors.corp-okta]`` with ``type = "okta"`` is one
instance of :class:`connectors.okta.OktaConnector`. Instances are built and validated at start.
"""

from __future__ import annotations

from flask import Flask, current_app

from connectors.base import (
    AccountBlocked,
    Connector,
    ConnectorError,
    ExternalIdentity,
    FederationRejected,
    InvalidCredentials,
    LegacyUnavailable,
    MfaRequired,
    PasswordConnector,
    RedirectConnector,
    UserNotFound,
)
from settings import deployment
from settings.errors import ConfigError

registry = Connector.registry

__all__ = [
    "AccountBlocked",
    "FederationRejected",
    "RedirectConnector",
    "MfaRequired",
    "UserNotFound",
    "Connector",
    "ConnectorError",
    "ExternalIdentity",
    "InvalidCredentials",
    "LegacyUnavailable",
    "PasswordConnector",
    "build_connectors",
    "get",
    "init_app",
    "instances",
]


def build_connectors(tables: dict[str, dict], config) -> dict[str, Connector]:
    """Instantiate every configured connector, collecting every problem before failing."""
    registry.discover()
    built, problems = {}, []
    for name, table in tables.items():
        type_name = table.get("type")
        if type_name not in registry:
            problems.append(
                f"connectors.{name}.type: unknown connector type {type_name!r} "
                f"(known: {', '.join(registry.types())})"
            )
            continue
        try:
            built[name] = registry.get(type_name).from_table(name, table, config)
        except ConfigError as error:
            problems.extend(error.problems)
    if problems:
        raise ConfigError(problems, "connectors")
    return built


def init_app(app: Flask) -> None:
    from connectors import cli

    app.extensions["ferry.connectors"] = build_connectors(deployment(app).connectors, app.config)
    cli.init_app(app)


def instances() -> dict[str, Connector]:
    return current_app.extensions["ferry.connectors"]


def get(name: str) -> Connector:
    return instances()[name]
