"""ASP.NET Identity password hashes, as ``PasswordHasher<TUser>`` writes them to
``AspNetUsers.PasswordHash``: ``aspnet_identity_v2`` and ``aspnet_identity_v3``.

The layout is ASP.NET Core's ``src/Identity/Extensions.Core/src/PasswordHasher.cs`` (the same in
ASP.NET Identity 2 for .NET Framework for v2): the base64 of

* **v2** (``IdentityV2`` compatibility mode, Identity 2.x): ``0x00`` | salt (16 bytes) |
  subkey (32 bytes); PBKDF2 with HMAC-SHA1, 1000 iterations.
* **v3** (the default since ASP.NET Core Identity 1.0): ``0x01`` | PRF (uint32, big-endian:
  0 HMAC-SHA1, 1 HMAC-SHA256, 2 HMAC-SHA512) | iteration count (uint32) | salt length (uint32)
  | salt | subkey (the rest). .NET writes HMAC-SHA256 with 10,000 iterations up to .NET 6 and
  HMAC-SHA512 with 100,000 since .NET 7, a 16-byte salt and a 32-byte subkey; it accepts a salt
  and a subkey of at least 16 bytes, as here.

The password is PBKDF2'd as UTF-8 (``KeyDerivation.Pbkdf2``) with :func:`hashlib.pbkdf2_hmac`
and compared in constant time. There is no prefix, only a base64 string and its first byte, so
both formats are tried only when listed in ``schemes``. Where .NET answers "failed" for a hash it
cannot read, Ferry refuses that user with the reason (truncated, extra bytes, unknown PRF, an
iteration count above :data:`MAX_PBKDF2_ITERATIONS`), as for every unusable record.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct

from connectors.hashes.formats import Parameters, Stored
from connectors.hashes.problems import MalformedHash

#: Most PBKDF2 work one check may do (iterations x output blocks): 20 times .NET 7's 100,000
#: HMAC-SHA512 iterations, about a second; more is refused as a malformed hash.
MAX_PBKDF2_ITERATIONS = 2_000_000
#: Longest subkey checked (.NET writes 32 bytes; its own tests use 64).
MAX_SUBKEY_BYTES = 64
_PRFS = {0: "sha1", 1: "sha256", 2: "sha512"}
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_HEADER = struct.Struct(">BIII")


def _payload(value: str) -> bytes | None:
    if not value or not _BASE64.fullmatch(value):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def recognise_v2(stored: Stored) -> bool:
    """Base64 whose first byte is v2's marker, 0x00."""
    payload = _payload(stored.value)
    return bool(payload) and payload[0] == 0x00


def recognise_v3(stored: Stored) -> bool:
    """Base64 whose first byte is v3's marker, 0x01."""
    payload = _payload(stored.value)
    return bool(payload) and payload[0] == 0x01


def _matches(password: bytes, algorithm: str, salt: bytes, iterations: int, subkey: bytes) -> bool:
    actual = hashlib.pbkdf2_hmac(algorithm, password, salt, iterations, len(subkey))
    return hmac.compare_digest(actual, subkey)


def check_v2(password: bytes, stored: Stored, _: Parameters) -> bool:
    """VerifyHashedPasswordV2: exactly 1 + 16 + 32 bytes, PBKDF2-HMAC-SHA1 x 1000."""
    payload = _payload(stored.value) or b""
    if len(payload) != 1 + 16 + 32:
        problem = "truncated" if len(payload) < 49 else "bytes after the subkey"
        raise MalformedHash(f"malformed aspnet_identity_v2 hash: {problem} (49 bytes expected, "
                            f"{len(payload)} found)", "aspnet_identity_v2")
    return _matches(password, "sha1", payload[1:17], 1000, payload[17:])


def check_v3(password: bytes, stored: Stored, _: Parameters) -> bool:
    """VerifyHashedPasswordV3: the PRF, iteration count and salt length from the header."""
    scheme = "aspnet_identity_v3"
    payload = _payload(stored.value) or b""
    if len(payload) < _HEADER.size:
        raise MalformedHash(f"malformed {scheme} hash: truncated header", scheme)
    _marker, prf, iterations, salt_length = _HEADER.unpack_from(payload)
    algorithm = _PRFS.get(prf)
    if algorithm is None:
        raise MalformedHash(f"malformed {scheme} hash: unknown PRF {prf}", scheme)
    salt = payload[_HEADER.size:_HEADER.size + salt_length]
    subkey = payload[_HEADER.size + salt_length:]
    if salt_length < 16 or len(salt) < salt_length or len(subkey) < 16:
        raise MalformedHash(f"malformed {scheme} hash: truncated (a salt and a subkey of at "
                            "least 16 bytes each are needed)", scheme)
    if len(subkey) > MAX_SUBKEY_BYTES:
        raise MalformedHash(f"malformed {scheme} hash: a {len(subkey)}-byte subkey (at most "
                            f"{MAX_SUBKEY_BYTES})", scheme)
    blocks = -(-len(subkey) // hashlib.new(algorithm).digest_size)
    if not 0 < iterations * blocks <= MAX_PBKDF2_ITERATIONS:
        raise MalformedHash(f"malformed {scheme} hash: {iterations} iterations (1 to "
                            f"{MAX_PBKDF2_ITERATIONS // blocks} are checked)", scheme)
    return _matches(password, algorithm, salt, iterations, subkey)
