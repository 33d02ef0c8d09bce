"""Secrets of the store, sealed at rest with Fernet (``cryptography``), keys with rotation.

``[ferry] store_keys`` (or ``FERRY_STORE_KEYS``): Fernet keys separated by commas; the first
seals, every one opens (:class:`cryptography.fernet.MultiFernet`). To rotate, put a new key
first, then run ``flask --app app ferry store rotate-keys`` (every secret is sealed again under
it) and drop the old key. Without keys, one is derived from ``secret_key`` by HKDF: fine for a
demo, but then changing ``secret_key`` loses the portal's secrets.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SEALED = "$sealed"


class SecretUnreadable(Exception):
    """A sealed secret none of the keys opens (a key was dropped too early, or tampering)."""


def keyring(store_keys: str, secret_key: str) -> MultiFernet:
    """The keys of ``store_keys`` (first seals), or one derived from ``secret_key``."""
    keys = [key.strip() for key in store_keys.split(",") if key.strip()]
    if not keys:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"ferry store v1")
        keys = [base64.urlsafe_b64encode(hkdf.derive(secret_key.encode())).decode()]
    return MultiFernet([Fernet(key) for key in keys])


def seal(ring: MultiFernet, value: str) -> dict[str, str]:
    """``value`` sealed, as the JSON the store keeps in place of the plain value."""
    return {SEALED: ring.encrypt(value.encode()).decode()}


def is_sealed(value) -> bool:
    """Whether ``value`` is a sealed secret as :func:`seal` makes them."""
    return isinstance(value, dict) and set(value) == {SEALED}


def unseal(ring: MultiFernet, value: dict[str, str]) -> str:
    """The plain secret; :class:`SecretUnreadable` when no key opens it."""
    try:
        return ring.decrypt(value[SEALED].encode()).decode()
    except (InvalidToken, ValueError):
        raise SecretUnreadable("no store key opens this secret") from None


def rotate(ring: MultiFernet, value: dict[str, str]) -> dict[str, str]:
    """The same secret sealed under the first key."""
    try:
        return {SEALED: ring.rotate(value[SEALED].encode()).decode()}
    except (InvalidToken, ValueError):
        raise SecretUnreadable("no store key opens this secret") from None
