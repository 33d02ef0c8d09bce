"""Secrets Ferry must read back (a ``client_secret_jwt`` app's secret), sealed at rest.

Fernet (``cryptography``) with a key derived from the deployment's ``secret_key`` by HKDF, so
every server opens what any server sealed. The admin portal's store will bring a key of its own
with rotation; until then, changing ``secret_key`` means re-applying the configuration (which
happens at every start).
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


def _fernet(secret_key: str | None = None) -> Fernet:
    material = (secret_key or current_app.config["SECRET_KEY"]).encode()
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"ferry sealed secrets v1")
    key = hkdf.derive(material)
    return Fernet(base64.urlsafe_b64encode(key))


def seal(value: str, secret_key: str | None = None) -> str:
    """``value`` encrypted and authenticated, as text for a column (the app's key by default)."""
    return _fernet(secret_key).encrypt(value.encode()).decode()


def unseal(sealed: str) -> str | None:
    """The sealed value, or None when it was sealed under another key or tampered with."""
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except (InvalidToken, ValueError):
        return None
