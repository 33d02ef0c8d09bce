"""One place that normalises identifiers, for the local lookup and for the legacy call alike."""

from __future__ import annotations

import unicodedata


def normalise_email(value: str) -> str:
    """Trim, Unicode-normalise (NFC) and lower-case an e-mail address.

    The local part is case-sensitive in theory; no mainstream IDP treats it so, and two local
    users that differ only by case would be a takeover waiting to happen.
    """
    return unicodedata.normalize("NFC", value).strip().lower()


def normalise_username(value: str) -> str:
    return unicodedata.normalize("NFC", value).strip().lower()


NORMALISERS = {"email": normalise_email, "username": normalise_username}


def normalise(kind: str, value: str) -> str:
    """Normalise ``value`` as an identifier of ``kind`` (``email`` or ``username``)."""
    return NORMALISERS[kind](value)
