"""What the store holds: the kinds of objects, which of their fields are secrets, and where each
lives in a deployment.

Every kind is a table of the configuration file: ``apps``, ``connectors`` and ``journeys`` hold
named objects (``[apps.<client_id>]``); ``branding`` and ``schema`` are one table each, kept
under the name ``default``. An object is validated by the same typed settings as the file's
(:func:`store.live.validate` checks the whole deployment it would make).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: A field holding one of these is a secret: sealed at rest, never shown, exported as a reference.
_SECRET_NAME = re.compile(r"(secret|password|_token|access_key|private_key|sp_key|signer_key)$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
SINGLETON = "default"


@dataclass(frozen=True)
class Kind:
    """One kind of object: its table in ``ferry.toml`` and whether it holds named objects."""

    name: str
    named: bool = True

    def check_name(self, name: str) -> str | None:
        """What is wrong with ``name`` for this kind (None: nothing)."""
        if not self.named:
            return None if name == SINGLETON else f"{self.name} has one object, {SINGLETON!r}"
        if not _NAME.match(name or ""):
            return ("a name is 1 to 100 letters, digits, '.', '_' or '-', starting with a letter "
                    "or digit")
        return None


KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    Kind("apps"), Kind("connectors"), Kind("journeys"),
    Kind("branding", named=False), Kind("schema", named=False),
)}


def kind(name: str) -> Kind:
    """The kind called ``name``; KeyError for any other."""
    return KINDS[name]


def is_secret(field: str, value: Any) -> bool:
    """Whether ``field`` of an object holds a secret (a string under a secret's name)."""
    return isinstance(value, str) and bool(_SECRET_NAME.search(field)) and not field.endswith("_url")


def secret_fields(data: dict[str, Any]) -> list[str]:
    """The top-level fields of ``data`` that are secrets."""
    return [field for field, value in data.items() if is_secret(field, value)]
