"""Legacy password-hash formats: recognise a stored hash and check a password against it.

The ``hashes`` connector (``connectors/hashes.py``) hands each stored hash to a
:class:`HashVerifier`, which tells the format from the hash itself (a prefix such as ``$2b$``,
``pbkdf2_sha256$`` or ``{SSHA}``) or, for the few formats that carry no prefix (plain hex
digests, Firebase's scrypt, a salted SHA with the salt in its own column), from its shape and
only when the operator enabled them. Verification uses kept libraries: bcrypt, argon2-cffi,
libpass (the maintained passlib fork, imported as ``passlib``), and the standard library's
``hashlib``/``hmac`` with ``cryptography`` for Firebase's AES step. Every digest compared here is
compared in constant time.

Outcomes: :meth:`HashVerifier.verify` returns True or False; a hash it cannot use raises
:class:`FormatNotEnabled` (a known format the operator did not list), :class:`MalformedHash`
or :class:`UnrecognisedHash`. Those are the legacy data's or the settings' fault, never the
user's: the connector refuses that one user (``UserDataInvalid``), never everyone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from passlib import hash as passlib_hash
from passlib.exc import PasswordValueError

from connectors.hash_problems import FormatNotEnabled, HashProblem, MalformedHash, UnrecognisedHash

#: Longest password checked at all (WordPress refuses the same); longer is simply wrong.
MAX_PASSWORD_BYTES = 4096
#: Most memory one scrypt check may take, so a hostile export cannot exhaust the server.
MAX_SCRYPT_MEMORY = 1 << 30

_BCRYPT = re.compile(r"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}")
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
    firebase: FirebaseParameters | None = None
    salted_sha: SaltedShaParameters | None = None


Check = Callable[[bytes, Stored, Parameters], bool]


@dataclass(frozen=True)
class HashFormat:
    """A format: how it is recognised and checked.

    ``auto`` formats carry a prefix (or a pattern) nothing else uses, so they are recognised
    whether enabled or not; the others have only a shape (32 hex digits...) and are tried only
    when listed in ``schemes``.
    """

    name: str
    check: Check
    recognise: Callable[[Stored], bool]
    auto: bool = True
    summary: str = ""


def _canonical(stored: Stored) -> Stored:
    """LDAP scheme names are case-insensitive (``{ssha}`` is ``{SSHA}``): upper-case them."""
    brace = _LDAP_PREFIX.match(stored.value)
    if brace is None:
        return stored
    return Stored(brace.group(0).upper() + stored.value[brace.end():], stored.salt)


def _prefix(*prefixes: str) -> Callable[[Stored], bool]:
    return lambda stored: _canonical(stored).value.startswith(prefixes)


def _pattern(regex: str) -> Callable[[Stored], bool]:
    compiled = re.compile(regex)
    return lambda stored: bool(compiled.fullmatch(stored.value))


# -- the checks ------------------------------------------------------------------------------
def _passlib(handler_name: str) -> Check:
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


def _bcrypt_plain(password: bytes, stored: Stored, _: Parameters) -> bool:
    return _bcrypt_check(password, stored.value)


def _wordpress(password: bytes, stored: Stored, _: Parameters) -> bool:
    # WordPress 6.8+ wp_check_password: bcrypt over base64(HMAC-SHA384(key "wp-sha384")).
    prehash = base64.b64encode(hmac.new(b"wp-sha384", password, hashlib.sha384).digest())
    return _bcrypt_check(prehash, stored.value[len("$wp"):])


def _django_bcrypt_sha256(password: bytes, stored: Stored, _: Parameters) -> bool:
    prehash = binascii.hexlify(hashlib.sha256(password).digest())
    return _bcrypt_check(prehash, stored.value[len("bcrypt_sha256$"):])


def _django_bcrypt(password: bytes, stored: Stored, _: Parameters) -> bool:
    return _bcrypt_check(password, stored.value[len("bcrypt$"):])


_ARGON2 = PasswordHasher()


def _argon2_check(password: bytes, value: str) -> bool:
    try:
        return _ARGON2.verify(value, password)
    except VerifyMismatchError:
        return False
    except (InvalidHashError, VerificationError) as error:
        raise ValueError("not an argon2 hash") from error


def _argon2(password: bytes, stored: Stored, _: Parameters) -> bool:
    return _argon2_check(password, stored.value)


def _argon2_after(prefix: str) -> Check:
    def check(password: bytes, stored: Stored, _: Parameters) -> bool:
        return _argon2_check(password, stored.value[len(prefix):])

    return check


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    need = 128 * r * (n + p + 2) + (1 << 20)
    if need > MAX_SCRYPT_MEMORY:
        raise ValueError("scrypt parameters need too much memory")
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=need, dklen=length)


def _django_scrypt(password: bytes, stored: Stored, _: Parameters) -> bool:
    # scrypt$<n>$<salt>$<r>$<p>$<base64 of the 64-byte key> (Django's ScryptPasswordHasher)
    _name, n, salt, r, p, digest = stored.value.split("$")
    expected = base64.b64decode(digest, validate=True)
    actual = _scrypt(password, salt.encode(), int(n), int(r), int(p), len(expected))
    return hmac.compare_digest(actual, expected)


def _firebase_scrypt(password: bytes, stored: Stored, parameters: Parameters) -> bool:
    # github.com/firebase/scrypt: scrypt(password, salt + separator, N=2^mem_cost, r=rounds,
    # p=1, 64 bytes); AES-256-CTR (key: its first 32 bytes, zero IV) over the signer key.
    firebase = parameters.firebase
    if firebase is None or stored.salt is None:
        raise ValueError("firebase_scrypt needs its parameters and the user's salt")
    salt = _decoded_salt(stored.salt, "base64")
    expected = base64.b64decode(stored.value, validate=True)
    key = _scrypt(password, salt + firebase.salt_separator, 1 << firebase.mem_cost,
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


def _salted_sha(password: bytes, stored: Stored, parameters: Parameters) -> bool:
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


def _hex(algorithm: str) -> Check:
    def check(password: bytes, stored: Stored, _: Parameters) -> bool:
        actual = hashlib.new(algorithm, password).digest()
        return hmac.compare_digest(actual, bytes.fromhex(stored.value))

    return check


def _ldap_digest(algorithm: str, salted: bool) -> Check:
    """``{SHA}``-style: base64 of the digest, followed by the salt for the salted variants."""
    size = hashlib.new(algorithm).digest_size

    def check(password: bytes, stored: Stored, _: Parameters) -> bool:
        blob = base64.b64decode(stored.value.split("}", 1)[1], validate=True)
        digest, salt = blob[:size], blob[size:]
        if len(digest) != size or (salted and not salt) or (not salted and salt):
            raise ValueError("wrong length")
        return hmac.compare_digest(hashlib.new(algorithm, password + salt).digest(), digest)

    return check


def _ldap_crypt(password: bytes, stored: Stored, parameters: Parameters) -> bool:
    inner = Stored(stored.value.split("}", 1)[1], stored.salt)
    for scheme in _CRYPT_FAMILY:
        if FORMATS[scheme].recognise(inner):
            return FORMATS[scheme].check(password, inner, parameters)
    raise ValueError("no crypt(3) format inside {CRYPT}")


# -- shapes of the formats without a prefix --------------------------------------------------
def _hex_shape(length: int) -> Callable[[Stored], bool]:
    return _pattern(f"[0-9a-fA-F]{{{length}}}")


def _firebase_shape(stored: Stored) -> bool:
    # Firebase keys are 64 bytes: 88 base64 characters; the salt has a column of its own.
    return bool(stored.salt) and len(stored.value) == 88 and stored.value.endswith("==")


def _salted_shape(stored: Stored) -> bool:
    return bool(stored.salt) and "$" not in stored.value and not stored.value.startswith("{")


_FORMATS = [
    HashFormat("bcrypt", _bcrypt_plain, _prefix("$2a$", "$2b$", "$2y$"), summary="bcrypt"),
    HashFormat("wordpress_bcrypt", _wordpress, _prefix("$wp$2"), summary="WordPress 6.8+ ($wp$2y$)"),
    HashFormat("bcrypt_sha256", _passlib("bcrypt_sha256"), _prefix("$bcrypt-sha256$"),
               summary="passlib's bcrypt over SHA-256"),
    HashFormat("phpass", _passlib("phpass"), _prefix("$P$", "$H$"),
               summary="phpass portable hashes (WordPress before 6.8, phpBB, Drupal 7 imports)"),
    HashFormat("md5_crypt", _passlib("md5_crypt"), _prefix("$1$"), summary="MD5-crypt"),
    HashFormat("apr_md5_crypt", _passlib("apr_md5_crypt"), _prefix("$apr1$"), summary="Apache MD5"),
    HashFormat("sha256_crypt", _passlib("sha256_crypt"), _prefix("$5$"), summary="SHA-256-crypt"),
    HashFormat("sha512_crypt", _passlib("sha512_crypt"), _prefix("$6$"), summary="SHA-512-crypt"),
    HashFormat("argon2", _argon2, _prefix("$argon2id$", "$argon2i$", "$argon2d$"), summary="argon2"),
    HashFormat("scrypt", _passlib("scrypt"), _prefix("$scrypt$"), summary="passlib's scrypt"),
    HashFormat("pbkdf2_sha1", _passlib("pbkdf2_sha1"), _prefix("$pbkdf2$"), summary="passlib"),
    HashFormat("pbkdf2_sha256", _passlib("pbkdf2_sha256"), _prefix("$pbkdf2-sha256$"), summary="passlib"),
    HashFormat("pbkdf2_sha512", _passlib("pbkdf2_sha512"), _prefix("$pbkdf2-sha512$"), summary="passlib"),
    HashFormat("django_pbkdf2_sha256", _passlib("django_pbkdf2_sha256"), _prefix("pbkdf2_sha256$"),
               summary="Django's default"),
    HashFormat("django_pbkdf2_sha1", _passlib("django_pbkdf2_sha1"), _prefix("pbkdf2_sha1$"),
               summary="Django"),
    HashFormat("django_bcrypt_sha256", _django_bcrypt_sha256, _prefix("bcrypt_sha256$"), summary="Django"),
    HashFormat("django_bcrypt", _django_bcrypt, _prefix("bcrypt$"), summary="Django"),
    HashFormat("django_argon2", _argon2_after("argon2"), _prefix("argon2$argon2"), summary="Django"),
    HashFormat("django_scrypt", _django_scrypt, _prefix("scrypt$"), summary="Django"),
    HashFormat("django_salted_sha1", _passlib("django_salted_sha1"), _prefix("sha1$"), summary="old Django"),
    HashFormat("django_salted_md5", _passlib("django_salted_md5"), _prefix("md5$"), summary="old Django"),
    HashFormat("ldap_ssha", _ldap_digest("sha1", True), _prefix("{SSHA}"), summary="LDAP salted SHA-1"),
    HashFormat("ldap_ssha256", _ldap_digest("sha256", True), _prefix("{SSHA256}"), summary="LDAP"),
    HashFormat("ldap_ssha384", _ldap_digest("sha384", True), _prefix("{SSHA384}"), summary="LDAP"),
    HashFormat("ldap_ssha512", _ldap_digest("sha512", True), _prefix("{SSHA512}"), summary="LDAP"),
    HashFormat("ldap_sha", _ldap_digest("sha1", False), _prefix("{SHA}"), summary="LDAP SHA-1"),
    HashFormat("ldap_sha256", _ldap_digest("sha256", False), _prefix("{SHA256}"), summary="LDAP"),
    HashFormat("ldap_sha384", _ldap_digest("sha384", False), _prefix("{SHA384}"), summary="LDAP"),
    HashFormat("ldap_sha512", _ldap_digest("sha512", False), _prefix("{SHA512}"), summary="LDAP"),
    HashFormat("ldap_md5", _ldap_digest("md5", False), _prefix("{MD5}"), summary="LDAP MD5"),
    HashFormat("ldap_smd5", _ldap_digest("md5", True), _prefix("{SMD5}"), summary="LDAP salted MD5"),
    HashFormat("ldap_crypt", _ldap_crypt, _prefix("{CRYPT}"), summary="LDAP {CRYPT} + crypt(3)"),
    HashFormat("ldap_pbkdf2_sha1", _passlib("ldap_pbkdf2_sha1"), _prefix("{PBKDF2}"), summary="passlib"),
    HashFormat("ldap_pbkdf2_sha256", _passlib("ldap_pbkdf2_sha256"), _prefix("{PBKDF2-SHA256}"),
               summary="passlib"),
    HashFormat("ldap_pbkdf2_sha512", _passlib("ldap_pbkdf2_sha512"), _prefix("{PBKDF2-SHA512}"),
               summary="passlib"),
    HashFormat("ldap_argon2", _argon2_after("{ARGON2}"), _prefix("{ARGON2}"), summary="OpenLDAP argon2"),
    HashFormat("mysql41", _passlib("mysql41"), _pattern(r"\*[0-9A-Fa-f]{40}"), summary="MySQL PASSWORD()"),
    # Shape only: tried when listed in ``schemes``, in the order listed there.
    HashFormat("firebase_scrypt", _firebase_scrypt, _firebase_shape, auto=False,
               summary="Firebase's modified scrypt (salt column + project parameters)"),
    HashFormat("salted_sha", _salted_sha, _salted_shape, auto=False,
               summary="digest of salt + password (salt column + salted_sha settings)"),
    HashFormat("md5_hex", _hex("md5"), _hex_shape(32), auto=False, summary="unsalted MD5, hex"),
    HashFormat("sha1_hex", _hex("sha1"), _hex_shape(40), auto=False, summary="unsalted SHA-1, hex"),
    HashFormat("sha256_hex", _hex("sha256"), _hex_shape(64), auto=False, summary="unsalted SHA-256, hex"),
    HashFormat("des_crypt", _passlib("des_crypt"), _pattern(r"[./0-9A-Za-z]{13}"), auto=False,
               summary="traditional 13-character crypt(3)"),
]
FORMATS: dict[str, HashFormat] = {f.name: f for f in _FORMATS}
#: What ``schemes`` holds when not set: every format recognised by a prefix of its own.
AUTO_DETECTED: tuple[str, ...] = tuple(f.name for f in _FORMATS if f.auto)
_CRYPT_FAMILY = ("bcrypt", "md5_crypt", "sha256_crypt", "sha512_crypt", "des_crypt")


class HashVerifier:
    """Checks passwords against stored hashes in the formats listed in ``schemes``."""

    def __init__(self, schemes: list[str] | tuple[str, ...], parameters: Parameters) -> None:
        unknown = [s for s in schemes if s not in FORMATS]
        if unknown:
            raise ValueError(f"unknown hash formats: {', '.join(unknown)}")
        self.schemes = tuple(schemes)
        self.parameters = parameters

    def identify(self, stored: Stored) -> str:
        """The format of ``stored``; raises :class:`HashProblem` when Ferry must not use it."""
        for found in _FORMATS:
            if found.auto and found.recognise(stored):
                if found.name not in self.schemes:
                    raise FormatNotEnabled(f"hash format {found.name} not enabled", found.name)
                return found.name
        for name in self.schemes:
            if not FORMATS[name].auto and FORMATS[name].recognise(stored):
                return name
        for found in _FORMATS:  # a guess from the shape, to tell the operator what to enable
            if found.recognise(stored):
                raise FormatNotEnabled(f"hash format {found.name} not enabled", found.name)
        raise UnrecognisedHash("hash format not recognised")

    def verify(self, password: str, stored: Stored) -> bool:
        """True when ``password`` matches; False when it does not (or is absurdly long)."""
        scheme = self.identify(stored)
        stored = _canonical(stored)
        secret = password.encode("utf-8")
        if len(secret) > MAX_PASSWORD_BYTES:
            return False
        try:
            return FORMATS[scheme].check(secret, stored, self.parameters)
        except PasswordValueError:  # the scheme cannot take this password (a NUL byte...)
            return False
        except (ValueError, TypeError, IndexError, OverflowError) as error:  # binascii.Error too
            raise MalformedHash(f"malformed {scheme} hash ({type(error).__name__})", scheme) from None

    def decoy(self, password: str, stored: Stored | None) -> None:
        """Spend about the time a real check takes, for a user who does not exist."""
        try:
            self.verify(password, stored or _DECOY)
        except HashProblem:
            _DECOY_VERIFIER.verify(password, _DECOY)


#: A bcrypt hash (cost 10) of a random string nobody kept: the decoy when nothing better exists.
_DECOY = Stored("$2b$10$Ogl137C10t28CEwU7O63f.nrrG1Lk18hNzeEseMJ1uhlzmK6vB4LS")
_DECOY_VERIFIER = HashVerifier(("bcrypt",), Parameters())
