"""What can be wrong with a stored legacy hash: the exception family of
:mod:`connectors.hashes.schemes`. Each is the legacy data's or the settings' fault, never the
user's, so the connector refuses that one user and nobody else."""

from __future__ import annotations


class HashProblem(Exception):
    """A stored hash Ferry cannot use; ``reason`` is for the operator (no secret in it)."""

    def __init__(self, reason: str, scheme: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.scheme = scheme


class FormatNotEnabled(HashProblem):
    """The hash is in a known format that is not in the connector's ``schemes``."""


class MalformedHash(HashProblem):
    """The hash looks like a known format but cannot be parsed."""


class UnrecognisedHash(HashProblem):
    """The hash is in no format Ferry knows."""


class FormatUnsupported(HashProblem):
    """A known format this server cannot check (the system library it needs is missing)."""
