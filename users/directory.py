"""Finding local users by identifier."""

from __future__ import annotations

from models import User


def find_by_identifier(kind: str, value: str) -> User | None:
    """The user whose normalised ``kind`` identifier (``email`` or ``username``) is ``value``."""
    column = {"email": User.email, "username": User.username}[kind]
    return User.get_or_none(column == value)
