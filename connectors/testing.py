"""Trying a password connector with one identifier and password: what ``ferry connector-test``
and the admin portal's "Test connection" both do. The password is never kept or logged."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors.base import (
    AccountBlocked,
    InvalidCredentials,
    LegacyUnavailable,
    MfaRequired,
    PasswordConnector,
    UserNotFound,
)
from users.identifiers import normalise
from users.mapping import map_claims


@dataclass(frozen=True)
class TestResult:
    """``ok``: the legacy IdP said yes (``profile`` is the mapped user); else ``refused`` (the
    IdP said no: ``reason``) or ``unavailable`` (it could not answer: ``reason``)."""

    __test__ = False  # not a pytest class

    outcome: str  # ok | refused | unavailable
    reason: str = ""
    subject: str | None = None
    profile: dict[str, Any] = field(default_factory=dict)
    claims: dict[str, Any] = field(default_factory=dict)


def try_password(connector: PasswordConnector, identifier: str, password: str,
                 as_typed: bool = False) -> TestResult:
    """Ask ``connector`` whether ``password`` is ``identifier``'s."""
    subject = identifier.strip() if as_typed else normalise(
        "email" if "@" in identifier else "username", identifier)
    try:
        identity = connector.check_password(subject, password)
    except UserNotFound:
        return TestResult("refused", "unknown user")
    except InvalidCredentials:
        return TestResult("refused", "wrong credentials (or unknown user)")
    except AccountBlocked as blocked:
        return TestResult("refused", f"account blocked: {blocked.reason}")
    except MfaRequired as challenge:
        return TestResult("refused", "the password is right, but a second factor is required "
                                     f"({challenge.factor})")
    except LegacyUnavailable as error:
        return TestResult("unavailable", error.reason)
    return TestResult("ok", subject=identity.subject, claims=identity.claims,
                      profile=map_claims(identity.claims, connector.mapping))
