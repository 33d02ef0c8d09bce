"""Finding local users by identifier."""

from __future__ import annotations

from models import User, fast


def find_by_identifier(kind: str, value: str) -> User | None:
    """The user whose normalised ``kind`` identifier (``email`` or ``username``) is ``value``."""
    if kind not in ("email", "username"):
        raise KeyError(kind)
    return fast.get(User, **{kind: value})
