"""Passwords, kept as argon2id PHC strings (argon2-cffi).

Parameters come from ``password_time_cost``, ``password_memory_cost`` and
``password_parallelism``; a hash made with other parameters is upgraded on the next good
sign-in, and so is a legacy hash imported by ``ferry users import`` (checked with its
connector's scheme, :mod:`authenticators.imported_hashes`). Hashing happens before any database
transaction opens, so a write lock is never held across ~50 ms of argon2.
"""

from __future__ import annotations

from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from authenticators import imported_hashes
from authenticators.base import Authenticator
from models import PasswordCredential, User, fast, utcnow


class PasswordAuthenticator(Authenticator):
    type = "password"

    def __init__(self, hasher: PasswordHasher) -> None:
        self.hasher = hasher
        # Verified against when a user has no password, so the answer takes as long either way.
        self._decoy = hasher.hash("decoy password, never matches")

    @classmethod
    def from_config(cls, config: Any) -> PasswordAuthenticator:
        return cls(hasher_from(config))

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def credential(self, user: User | None) -> PasswordCredential | None:
        if user is None:
            return None
        return fast.get(PasswordCredential, user=user.id)

    def verify(self, credential: PasswordCredential | None, password: str) -> bool:
        """True when ``password`` matches; rehashes in place when the parameters changed, or
        when it was a legacy hash imported in bulk (see :mod:`authenticators.imported_hashes`)."""
        if credential is None:
            self._spend_decoy(password)
            return False
        if imported_hashes.is_imported(credential.hash):
            if not imported_hashes.verify(credential.hash, password, self._spend_decoy):
                return False
        elif not verify_hash(self.hasher, credential.hash, password):
            return False
        elif not self.hasher.check_needs_rehash(credential.hash):
            return True
        self._rehash(credential, password)
        return True

    def _spend_decoy(self, password: str) -> None:
        verify_hash(self.hasher, self._decoy, password)

    def _rehash(self, credential: PasswordCredential, password: str) -> None:
        """Replace the hash just verified with today's argon2id, unless it changed meanwhile
        (a new password set in another tab stays)."""
        old, credential.hash = credential.hash, self.hasher.hash(password)
        PasswordCredential.update(hash=credential.hash, updated_at=utcnow()).where(
            (PasswordCredential.id == credential.id) & (PasswordCredential.hash == old)
        ).execute()


def hasher_from(config: Any) -> PasswordHasher:
    """argon2id with the ``password_*`` settings (PINs are hashed the same way)."""
    return PasswordHasher(time_cost=config["PASSWORD_TIME_COST"],
                          memory_cost=config["PASSWORD_MEMORY_COST"],
                          parallelism=config["PASSWORD_PARALLELISM"])


def verify_hash(hasher: PasswordHasher, phc: str, secret: str) -> bool:
    """Whether ``secret`` matches the PHC string; a malformed hash is simply no match."""
    try:
        return hasher.verify(phc, secret)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
