"""ASP.NET Identity ``PasswordHasher<TUser>`` hashes (v2 and v3), as ``AspNetUsers.PasswordHash``.

No tool installable here writes them (the .NET SDK is not in Debian), so the vectors are:

* the ones ASP.NET Core publishes in its own tests (dotnet/aspnetcore,
  ``src/Identity/test/Identity.Test/PasswordHasherTest.cs``: the password ``my password``,
  ``HashPassword`` with a salt of bytes 0, 1, 2... and the success and failure payloads), and
* :func:`hash_password`, a line-by-line port of ``PasswordHasher.HashPassword`` (ASP.NET Core
  ``src/Identity/Extensions.Core/src/PasswordHasher.cs``) for other passwords and settings,
  which reproduces the published ``HashPassword`` outputs byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct

import pytest

from connectors import InvalidCredentials
from tests.connectors.hashes.hash_vectors import (
    Vector,
    assert_accepts_only_the_password,
    connector_for,
    refusal,
)
from tests.connectors.hashes.legacy import ALICE, PASSWORD, WRONG

PUBLISHED_PASSWORD = "my password"
# PasswordHasherTest.HashPassword_Version2 / _Version3 (the salt: bytes 0 to 15)
PUBLISHED_V2 = "AAABAgMEBQYHCAkKCwwNDg+ukCEMDf0yyQ29NYubggHIVY0sdEUfdyeM+E1LtH1uJg=="
PUBLISHED_V3 = "AQAAAAEAACcQAAAAEAABAgMEBQYHCAkKCwwNDg+yWU7rLgUwPZb1Itsmra7cbxw2EFpwpVFIEtP+JIuUEw=="
# PasswordHasherTest.VerifyHashedPassword_Version3CompatMode_SuccessCases
PUBLISHED_SUCCESS = {
    "v2-sha1-1000": (
        "aspnet_identity_v2", "ANXrDknc7fGPpigibZXXZFMX4aoqz44JveK6jQuwY3eH/UyPhvr5xTPeGYEckLxz9A=="),
    "v3-sha512-50-128bit-subkey": (
        "aspnet_identity_v3", "AQAAAAIAAAAyAAAAEOMwvh3+FZxqkdMBz2ekgGhwQ4B6pZWND6zgESBuWiHw"),
    "v3-sha512-250-512bit-subkey": (
        "aspnet_identity_v3", "AQAAAAIAAAD6AAAAIJbVi5wbMR+htSfFp8fTw8N8GOS/Sje+S/4YZcgBfU7EQuqv4OkVYmc4VJl9"
                              "AGZzmRTxSkP7LtVi9IWyUxX8IAAfZ8v+ZfhjCcudtC1YERSqE1OEdXLW9VukPuJWBBjLuw=="),
    "v3-sha1-250": (
        "aspnet_identity_v3", "AQAAAAAAAAD6AAAAEAhftMyfTJylOlZT+eEotFXd1elee8ih5WsjXaR3PA9M"),
    "v3-sha256-250000": (
        "aspnet_identity_v3", "AQAAAAEAA9CQAAAAIESkQuj2Du8Y+kbc5lcN/W/3NiAZFEm11P27nrSN5/tId+bR1SwV8CO1Jd72"
                              "r4C08OLvplNlCDc3oQZ8efcW+jQ="),
    "v2-hash-password": ("aspnet_identity_v2", PUBLISHED_V2),
    "v3-hash-password": ("aspnet_identity_v3", PUBLISHED_V3),
}
BOTH = ["aspnet_identity_v2", "aspnet_identity_v3"]
_PRF = {"sha1": 0, "sha256": 1, "sha512": 2}


def hash_password(password: str, version: int, salt: bytes | None = None, prf: str = "sha512",
                  iterations: int = 100_000) -> str:
    """PasswordHasher.HashPassword: v2 (IdentityV2 mode) or v3 (.NET 7+'s defaults by default)."""
    salt = os.urandom(16) if salt is None else salt
    if version == 2:  # HashPasswordV2: PBKDF2-HMAC-SHA1, 1000 iterations, 256-bit subkey
        subkey = hashlib.pbkdf2_hmac("sha1", password.encode("utf-8"), salt, 1000, 32)
        return base64.b64encode(b"\x00" + salt + subkey).decode()
    subkey = hashlib.pbkdf2_hmac(prf, password.encode("utf-8"), salt, iterations, 32)
    header = struct.pack(">BIII", 0x01, _PRF[prf], iterations, len(salt))  # WriteNetworkByteOrder
    return base64.b64encode(header + salt + subkey).decode()


def test_the_port_writes_what_aspnet_core_writes():
    assert hash_password(PUBLISHED_PASSWORD, 2, bytes(range(16))) == PUBLISHED_V2
    assert hash_password(PUBLISHED_PASSWORD, 3, bytes(range(16)), "sha256", 10_000) == PUBLISHED_V3


@pytest.mark.parametrize("key", PUBLISHED_SUCCESS)
def test_published_hashes_accept_the_right_password_only(app, tmp_path, key):
    scheme, stored = PUBLISHED_SUCCESS[key]
    assert_accepts_only_the_password(app, tmp_path, Vector(
        scheme, stored, PUBLISHED_PASSWORD, "my Password", "ASP.NET Core's PasswordHasherTest"))


@pytest.mark.parametrize(("version", "prf", "iterations"), [
    (2, "sha1", 1000), (3, "sha512", 100_000), (3, "sha256", 10_000), (3, "sha1", 1000)])
def test_hashes_of_the_port_accept_the_right_password_only(app, tmp_path, version, prf, iterations):
    stored = hash_password(PASSWORD, version, prf=prf, iterations=iterations)
    assert_accepts_only_the_password(app, tmp_path, Vector(
        f"aspnet_identity_v{version}", stored, PASSWORD, WRONG, "port of PasswordHasher"))


def test_both_versions_in_one_export_when_both_are_listed(app, tmp_path):
    for stored in (PUBLISHED_V2, PUBLISHED_V3):
        connector = connector_for(app, tmp_path, stored, BOTH)
        assert connector.verify(ALICE, PUBLISHED_PASSWORD).subject == "u1"


def test_the_published_wrong_payload_is_a_wrong_password(app, tmp_path):
    for stored in ("AAABAgMEBQYHCAkKCwwNDg+uAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAALtH1uJg==",
                   "AQAAAAAAAAD6AAAAEAhftMyfTJyAAAAAAAAAAAAAAAAAAAih5WsjXaR3PA9M"):
        connector = connector_for(app, tmp_path, stored, BOTH)
        with pytest.raises(InvalidCredentials):
            connector.verify(ALICE, PUBLISHED_PASSWORD)


def _v3(prf: int = 1, iterations: int = 10_000, salt_length: int = 16, salt: bytes = bytes(16),
        subkey: bytes = bytes(32)) -> str:
    return base64.b64encode(struct.pack(">BIII", 1, prf, iterations, salt_length) + salt + subkey).decode()


@pytest.mark.parametrize(("stored", "schemes", "reason"), [
    # PasswordHasherTest.VerifyHashedPassword_FailureCases: .NET answers "failed"; Ferry names why
    pytest.param("AAABAgMEBQYHCAkKCwwNDg+ukCEMDf0yyQ29NYubggE=", BOTH,
                 "malformed aspnet_identity_v2 hash: truncated", id="v2-too-short"),
    pytest.param("AAABAgMEBQYHCAkKCwwNDg+ukCEMDf0yyQ29NYubggHIVY0sdEUfdyeM+E1LtH1uJgAAAAAAAAAAAAA=", BOTH,
                 "malformed aspnet_identity_v2 hash: bytes after the subkey", id="v2-extra-data"),
    pytest.param("AQAAAAIAAAAyAAAAEOMwvh3+FZxqkdMBz2ekgGhwQ4A=", BOTH,
                 "malformed aspnet_identity_v3 hash: truncated", id="v3-too-short"),
    pytest.param("AQAAAAEAAA==", BOTH, "malformed aspnet_identity_v3 hash: truncated header", id="v3-header"),
    pytest.param(_v3(prf=3), BOTH, "malformed aspnet_identity_v3 hash: unknown PRF 3", id="v3-prf"),
    pytest.param(_v3(iterations=0x7FFFFFFF), BOTH,
                 "malformed aspnet_identity_v3 hash: 2147483647 iterations", id="v3-iterations-cap"),
    pytest.param(_v3(iterations=0), BOTH, "malformed aspnet_identity_v3 hash: 0 iterations", id="v3-zero"),
    pytest.param(_v3(salt_length=4096), BOTH, "malformed aspnet_identity_v3 hash: truncated",
                 id="v3-salt-length-beyond-the-payload"),
    pytest.param(_v3(salt_length=8, salt=bytes(8)), BOTH, "malformed aspnet_identity_v3 hash: truncated",
                 id="v3-salt-too-short"),
    pytest.param(_v3(subkey=bytes(200)), BOTH, "malformed aspnet_identity_v3 hash: a 200-byte subkey",
                 id="v3-subkey-too-long"),
    pytest.param(PUBLISHED_V3, None, "hash format aspnet_identity_v3 not enabled", id="v3-not-listed"),
    pytest.param(PUBLISHED_V2, ["aspnet_identity_v3"], "hash format aspnet_identity_v2 not enabled",
                 id="v2-not-listed"),
])
def test_an_unusable_aspnet_hash_is_refused_for_that_user_with_its_reason(app, tmp_path, stored,
                                                                          schemes, reason):
    assert refusal(app, tmp_path, stored, PUBLISHED_PASSWORD, schemes).startswith(reason)
