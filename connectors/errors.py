"""The errors a connector raises (see :mod:`connectors.base` for what each means to a journey).

A module of their own, so that what sits under the connectors (the call guard, the HTTP
discipline) can raise them without importing the base classes.
"""

from __future__ import annotations

from typing import Any


class ConnectorError(Exception):
    """Base of every error a connector raises."""


class InvalidCredentials(ConnectorError):
    """The legacy IDP refused the identifier and secret."""


class UserNotFound(InvalidCredentials):
    """The legacy IDP knows no such user (only raised by connectors that can tell).

    A journey may try the next legacy source on it; users still see the same words as for a
    wrong password, so nothing is enumerated.
    """


class AccountBlocked(ConnectorError):
    """The password may be right, but the legacy account cannot sign in.

    ``reason``: ``locked``, ``disabled``, ``password_expired`` or ``password_change_required``.
    """

    REASONS = ("locked", "disabled", "password_expired", "password_change_required")

    def __init__(self, reason: str) -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown reason {reason!r}")
        super().__init__(reason)
        self.reason = reason


class MfaRequired(ConnectorError):
    """The legacy IDP wants a second factor before it vouches for the user.

    ``state`` is what :meth:`PasswordConnector.complete_mfa` needs to finish (a state token, an
    MFA token, a session...): JSON-serialisable, short-lived, kept in the journey run.
    ``factor`` names what the user must type (``totp``, ``sms``, ``email``).
    """

    def __init__(self, state: dict[str, Any], factor: str = "totp") -> None:
        super().__init__(factor)
        self.state = state
        self.factor = factor


class LegacyUnavailable(ConnectorError):
    """The legacy IDP is unreachable, broken, or misconfigured; ``reason`` is for operators.

    ``outage=False`` marks an answer that means "this user cannot migrate this way" (Entra
    demanding MFA over ROPC, an expired MFA challenge): the user is told to try later, but the
    circuit breaker does not count it, so a few such users cannot shut the door for everyone.
    """

    def __init__(self, reason: str, outage: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.outage = outage


class CodeThrottled(ConnectorError):
    """The legacy IDP refuses more codes or code guesses for this identifier for now."""


class FederationRejected(ConnectorError):
    """An answer from a redirect IdP that must not be trusted; ``reason`` is for the audit log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
