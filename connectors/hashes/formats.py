"""What a legacy hash format is, for :mod:`connectors.hashes.schemes` and the modules that check
one family each (:mod:`~connectors.hashes.checks`, :mod:`~connectors.hashes.crypt_family`,
:mod:`~connectors.hashes.aspnet`).

A :class:`HashFormat` pairs a check with how the format is recognised (a prefix of its own, or a
shape tried only when the operator lists it) and, for the generated table in docs/connectors.md
(:mod:`connectors.hashes.reference`), the software that writes it. The limits below keep one
hostile or broken record from costing the server more than a few seconds or a gigabyte.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

#: Longest password checked at all (WordPress refuses the same); longer is simply wrong.
MAX_PASSWORD_BYTES = 4096
#: Most memory one check may take (scrypt, yescrypt, argon2), so an export cannot exhaust the server.
MAX_SCRYPT_MEMORY = 1 << 30
#: Most memory-hard work one check may do, in bytes of memory filled (memory x passes x lanes):
#: four passes over the 1 GiB cap, a few seconds; more is a malformed hash, never minutes of CPU.
MAX_KDF_WORK = 4 << 30

_LDAP_PREFIX = re.compile(r"\{[A-Za-z0-9_-]+\}")


@dataclass(frozen=True)
class FirebaseParameters:
    """A Firebase project's password hash parameters (console: Users > Password hash parameters)."""

    signer_key: bytes
    salt_separator: bytes
    rounds: int
    mem_cost: int


@dataclass(frozen=True)
class SaltedShaParameters:
    """``digest(salt + password)`` or ``digest(password + salt)``, the salt in its own column."""

    algorithm: str = "sha256"
    salt_position: str = "prefix"  # or "suffix"
    encoding: str = "hex"  # how the digest is stored: hex or base64
    salt_encoding: str = "text"  # how the salt column holds the salt: text, hex or base64


@dataclass(frozen=True)
class Stored:
    """One user's stored hash and, for formats that keep it apart, their salt."""

    value: str
    salt: str | bytes | None = None


@dataclass(frozen=True)
class Parameters:
    """Connector-wide settings some formats need (Firebase's project key, the salted SHA layout)."""

    firebase: FirebaseParameters | None = None
    salted_sha: SaltedShaParameters | None = None


#: ``check(password, stored, parameters)``: True or False, ValueError (or a
#: :class:`~connectors.hashes.problems.HashProblem` with its own reason) for an unusable hash.
Check = Callable[[bytes, Stored, Parameters], bool]


@dataclass(frozen=True)
class HashFormat:
    """A format: how it is recognised and checked, and who writes it.

    ``auto`` formats carry a prefix (or a pattern) nothing else uses, so they are recognised
    whether enabled or not; the others have only a shape (32 hex digits...) and are tried only
    when listed in ``schemes``. ``recognised_by`` and ``written_by`` are the docs' words.
    """

    name: str
    check: Check
    recognise: Callable[[Stored], bool]
    auto: bool = True
    recognised_by: str = ""
    written_by: str = ""


def canonical(stored: Stored) -> Stored:
    """LDAP scheme names are case-insensitive (``{ssha}`` is ``{SSHA}``): upper-case them."""
    brace = _LDAP_PREFIX.match(stored.value)
    if brace is None:
        return stored
    return Stored(brace.group(0).upper() + stored.value[brace.end():], stored.salt)


def prefixed(name: str, check: Check, *prefixes: str, written_by: str) -> HashFormat:
    """A format recognised by a prefix of its own, enabled by default."""
    return HashFormat(name, check, lambda stored: canonical(stored).value.startswith(prefixes),
                      recognised_by="prefix " + ", ".join(f"`{p}`" for p in prefixes),
                      written_by=written_by)


def shaped(name: str, check: Check, recognise: Callable[[Stored], bool], shape: str, *,
           written_by: str, auto: bool = False) -> HashFormat:
    """A format recognised by its shape (``shape`` says which, for the docs); listed only
    unless ``auto`` (a pattern nothing else can match)."""
    return HashFormat(name, check, recognise, auto=auto, recognised_by=f"shape: {shape}",
                      written_by=written_by)


def pattern(regex: str) -> Callable[[Stored], bool]:
    """Recognises a stored value that matches ``regex`` whole."""
    compiled = re.compile(regex)
    return lambda stored: bool(compiled.fullmatch(stored.value))
