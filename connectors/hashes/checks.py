"""The checks of the formats that kept libraries verify: bcrypt, argon2-cffi, libpass (the
maintained passlib fork, imported as ``passlib``), and the standard library's ``hashlib``/``hmac``
with ``cryptography`` for Firebase's AES step. Every digest compared here is compared in
constant time.

Argon2 hashes are PHC strings whose parameters the spec orders ``m,t,p``; node-argon2 (0.44 and
later) writes ``m=...,p=...,t=...``, which argon2-cffi refuses, so :func:`argon2_phc` puts them
back in order before verifying, and refuses a cost above the server's caps.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from passlib import hash as passlib_hash

from connectors.hashes.formats import MAX_KDF_WORK, MAX_SCRYPT_MEMORY, Check, Parameters, Stored
from connectors.hashes.problems import MalformedHash

_BCRYPT = re.compile(r"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}")
_ARGON2_PHC = re.compile(r"(\$argon2(?:id|i|d)(?:\$v=\d+)?\$)([^$]*)(\$.*)", re.S)


def passlib_check(handler_name: str) -> Check:
    """The check of libpass's handler ``handler_name`` (its hash string as stored)."""
    handler = getattr(passlib_hash, handler_name)

    def check(password: bytes, stored: Stored, _: Parameters) -> bool:
        return bool(handler.verify(password, stored.value))

    return check


def _bcrypt_check(password: bytes, value: str) -> bool:
    if not _BCRYPT.fullmatch(value):
        raise ValueError("not a bcrypt hash")
    # bcrypt reads at most 72 bytes; the legacy system truncated the same way (bcrypt >= 5
    # refuses longer input instead of truncating).
    return bcrypt.checkpw(password[:72], value.encode("ascii"))


def bcrypt_plain(password: bytes, stored: Stored, _: Parameters) -> bool:
    """``$2a$``, ``$2b$``, ``$2y$``."""
    return _bcrypt_check(password, stored.value)


def wordpress(password: bytes, stored: Stored, _: Parameters) -> bool:
    """WordPress 6.8+ wp_check_password: bcrypt over base64(HMAC-SHA384(key "wp-sha384"))."""
    prehash = base64.b64encode(hmac.new(b"wp-sha384", password, hashlib.sha384).digest())
    return _bcrypt_check(prehash, stored.value[len("$wp"):])


def django_bcrypt_sha256(password: bytes, stored: Stored, _: Parameters) -> bool:
    """Django's BCryptSHA256PasswordHasher: bcrypt over the hex SHA-256 of the password."""
    prehash = binascii.hexlify(hashlib.sha256(password).digest())
    return _bcrypt_check(prehash, stored.value[len("bcrypt_sha256$"):])


def django_bcrypt(password: bytes, stored: Stored, _: Parameters) -> bool:
    """Django's BCryptPasswordHasher: ``bcrypt$`` + a bcrypt hash."""
    return _bcrypt_check(password, stored.value[len("bcrypt$"):])


_ARGON2 = PasswordHasher()


def argon2_phc(value: str, scheme: str = "argon2") -> str:
    """``value`` with its parameters in the PHC order ``m,t,p``; MalformedHash when they are
    not exactly m, t and p, or would cost more than the caps. Other shapes pass unchanged (for
    argon2-cffi to refuse)."""
    found = _ARGON2_PHC.fullmatch(value)
    if found is None:
        return value
    pairs = [item.partition("=") for item in found.group(2).split(",")]
    parameters = {key: number for key, _, number in pairs}
    if len(pairs) != 3 or set(parameters) != {"m", "t", "p"} or not all(
            number.isascii() and number.isdigit() for number in parameters.values()):
        raise MalformedHash(f"malformed {scheme} hash: the parameters must be m, t and p", scheme)
    memory, passes = int(parameters["m"]) * 1024, int(parameters["t"])
    if memory > MAX_SCRYPT_MEMORY or memory * passes > MAX_KDF_WORK:
        raise MalformedHash(f"malformed {scheme} hash: cost above the server's cap (m={memory >> 10} "
                            f"KiB, t={passes}; at most {MAX_SCRYPT_MEMORY >> 20} MiB and "
                            f"{MAX_KDF_WORK >> 30} GiB of work)", scheme)
    ordered = f"m={parameters['m']},t={parameters['t']},p={parameters['p']}"
    return found.group(1) + ordered + found.group(3)


def _argon2_check(password: bytes, value: str, scheme: str) -> bool:
    try:
        return _ARGON2.verify(argon2_phc(value, scheme), password)
    except VerifyMismatchError:
        return False
    except (InvalidHashError, VerificationError) as error:
        raise ValueError("not an argon2 hash") from error


def argon2(password: bytes, stored: Stored, _: Parameters) -> bool:
    """``$argon2id$``, ``$argon2i$``, ``$argon2d$``, the parameters in any order."""
    return _argon2_check(password, stored.value, "argon2")


def argon2_after(prefix: str, scheme: str) -> Check:
    """An argon2 PHC string after ``prefix`` (Django's ``argon2``, OpenLDAP's ``{ARGON2}``)."""
    def check(password: bytes, stored: Stored, _: Parameters) -> bool:
        return _argon2_check(password, stored.value[len(prefix):], scheme)

    return check


def scrypt_key(password: bytes, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    """hashlib's scrypt, refused (ValueError) above the memory cap."""
    need = 128 * r * (n + p + 2) + (1 << 20)
    if need > MAX_SCRYPT_MEMORY:
        raise ValueError("scrypt parameters need too much memory")
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=need, dklen=length)


def django_scrypt(password: bytes, stored: Stored, _: Parameters) -> bool:
    """scrypt$<n>$<salt>$<r>$<p>$<base64 of the 64-byte key> (Django's ScryptPasswordHasher)."""
    _name, n, salt, r, p, digest = stored.value.split("$")
    expected = base64.b64decode(digest, validate=True)
    actual = scrypt_key(password, salt.encode(), int(n), int(r), int(p), len(expected))
    return hmac.compare_digest(actual, expected)


def firebase_scrypt(password: bytes, stored: Stored, parameters: Parameters) -> bool:
    """github.com/firebase/scrypt: scrypt(password, salt + separator, N=2^mem_cost, r=rounds,
    p=1, 64 bytes); AES-256-CTR (key: its first 32 bytes, zero IV) over the signer key."""
    firebase = parameters.firebase
    if firebase is None or stored.salt is None:
        raise ValueError("firebase_scrypt needs its parameters and the user's salt")
    salt = _decoded_salt(stored.salt, "base64")
    expected = base64.b64decode(stored.value, validate=True)
    key = scrypt_key(password, salt + firebase.salt_separator, 1 << firebase.mem_cost,
                     firebase.rounds, 1, 64)
    encryptor = Cipher(algorithms.AES(key[:32]), modes.CTR(bytes(16))).encryptor()
    actual = encryptor.update(firebase.signer_key) + encryptor.finalize()
    return hmac.compare_digest(actual, expected)


def _decoded_salt(salt: str | bytes, encoding: str) -> bytes:
    if isinstance(salt, bytes):
        return salt
    if encoding == "hex":
        return bytes.fromhex(salt)
    if encoding == "base64":
        return base64.b64decode(salt, validate=True)
    return salt.encode()


def salted_sha(password: bytes, stored: Stored, parameters: Parameters) -> bool:
    """digest(salt + password) or digest(password + salt), as the salted_sha settings say."""
    config = parameters.salted_sha
    if config is None or stored.salt is None:
        raise ValueError("salted_sha needs its settings and the user's salt")
    salt = _decoded_salt(stored.salt, config.salt_encoding)
    message = salt + password if config.salt_position == "prefix" else password + salt
    actual = hashlib.new(config.algorithm, message).digest()
    return hmac.compare_digest(actual, _digest_bytes(stored.value, config.encoding))


def _digest_bytes(value: str, encoding: str) -> bytes:
    if encoding == "hex":
        return bytes.fromhex(value)
    return base64.b64decode(value, validate=True)


def hex_digest(algorithm: str) -> Check:
    """An unsalted digest of the password, in hex."""
    def check(password: bytes, stored: Stored, _: Parameters) -> bool:
        actual = hashlib.new(algorithm, password).digest()
        return hmac.compare_digest(actual, bytes.fromhex(stored.value))

    return check


def ldap_digest(algorithm: str, salted: bool) -> Check:
    """``{SHA}``-style: base64 of the digest, followed by the salt for the salted variants."""
    size = hashlib.new(algorithm).digest_size

    def check(password: bytes, stored: Stored, _: Parameters) -> bool:
        blob = base64.b64decode(stored.value.split("}", 1)[1], validate=True)
        digest, salt = blob[:size], blob[size:]
        if len(digest) != size or (salted and not salt) or (not salted and salt):
            raise ValueError("wrong length")
        return hmac.compare_digest(hashlib.new(algorithm, password + salt).digest(), digest)

    return check
