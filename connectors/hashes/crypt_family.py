"""crypt(3) hashes that only the system's libxcrypt checks: yescrypt (``$y$``), gost-yescrypt
(``$gy$``), scrypt in crypt format (``$7$``) and BSDi extended DES (``_J9..``).

``$y$`` is what current Debian, Ubuntu and Fedora write to ``/etc/shadow`` and what ``mkpasswd``
writes by default; ``$gy$`` and ``$7$`` come from the same library; extended DES is PHP's
``crypt()`` with a ``_`` salt and old BSD systems. Ferry does not port these algorithms: it calls
libxcrypt (``libcrypt.so.1``, Debian's ``libcrypt1``) through :mod:`ctypes`, with
``crypt_rn`` and a ``struct crypt_data`` of its own for each call, so checks are thread-safe
(never the non-reentrant ``crypt``), and ctypes releases the GIL while one runs. The result
is compared with the stored hash in constant time.

Before calling the library each hash is parsed here, so a bad record is a
:class:`~connectors.hashes.problems.MalformedHash` with a reason for the operator: characters
outside crypt(3)'s alphabet (a non-ASCII salt), a truncated hash, or a cost above the caps of
:mod:`connectors.hashes.formats` (yescrypt and scrypt memory and work, extended DES rounds), so
a hostile export never buys minutes of CPU. A server without libxcrypt refuses these users with
:class:`~connectors.hashes.problems.FormatUnsupported`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import hmac
import logging
import re
from collections.abc import Iterator

from connectors.hashes.formats import MAX_KDF_WORK, MAX_SCRYPT_MEMORY, Check, Parameters, Stored
from connectors.hashes.problems import FormatUnsupported, MalformedHash

log = logging.getLogger(__name__)

#: ``sizeof(struct crypt_data)`` in libxcrypt's <crypt.h> (output, setting, input, reserved,
#: initialized, internal: 384 + 384 + 512 + 767 + 1 + 30720 bytes).
CRYPT_DATA_SIZE = 32768
#: libxcrypt refuses longer passphrases (CRYPT_MAX_PASSPHRASE_SIZE - 1): no legacy hash has one.
MAX_PASSPHRASE_BYTES = 511
#: Most extended-DES rounds checked; the format allows 2^24 (seconds); PHP's ``_J9..`` is 725,
#: FreeBSD's default 7250.
MAX_BSDI_ROUNDS = 1 << 20

_ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ATOI64 = {character: value for value, character in enumerate(_ITOA64)}
_ALPHABET = re.compile(r"[$_./0-9A-Za-z]*")
_LAYOUTS = {
    "yescrypt": re.compile(r"\$y\$([./0-9A-Za-z]+)\$[./0-9A-Za-z]{1,86}\$[./0-9A-Za-z]{43}"),
    "gost_yescrypt": re.compile(r"\$gy\$([./0-9A-Za-z]+)\$[./0-9A-Za-z]{1,86}\$[./0-9A-Za-z]{43}"),
    "scrypt_crypt": re.compile(r"\$7\$([./0-9A-Za-z]{11})[./0-9A-Za-z]{1,64}\$[./0-9A-Za-z]{43}"),
    "bsdi_crypt": re.compile(r"_([./0-9A-Za-z]{4})[./0-9A-Za-z]{4}[./0-9A-Za-z]{11}"),
}
_WHAT = {"yescrypt": "$y$", "gost_yescrypt": "$gy$", "scrypt_crypt": "$7$",
         "bsdi_crypt": "_ + 4 count + 4 salt + 11 hash characters"}
# crypt_checksalt's answers (libxcrypt >= 4.3)
_SALT_OK, _SALT_INVALID, _SALT_DISABLED = 0, 1, 2


def _candidates() -> Iterator[str | None]:
    yield "libcrypt.so.1"  # libxcrypt's soname on Linux
    yield ctypes.util.find_library("crypt")  # elsewhere (asks ldconfig or the compiler)


@functools.cache
def _libxcrypt() -> ctypes.CDLL | None:
    """libxcrypt, or None when this system has none with ``crypt_rn`` (logged once)."""
    for name in _candidates():
        if not name:
            continue
        try:
            library = ctypes.CDLL(name, use_errno=True)
            crypt_rn, checksalt = library.crypt_rn, library.crypt_checksalt
        except (OSError, AttributeError):
            continue
        crypt_rn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
        crypt_rn.restype = ctypes.c_char_p
        checksalt.argtypes = [ctypes.c_char_p]
        checksalt.restype = ctypes.c_int
        return library
    log.error("libxcrypt (libcrypt.so.1 with crypt_rn) not found: yescrypt, scrypt-crypt and "
              "extended DES hashes cannot be checked on this server")
    return None


def libxcrypt_check(scheme: str) -> Check:
    """The check of ``scheme`` (a key of the layouts above) through libxcrypt."""
    def check(password: bytes, stored: Stored, _: Parameters) -> bool:
        setting = _parsed(scheme, stored.value)
        if b"\0" in password or len(password) > MAX_PASSPHRASE_BYTES:
            return False  # the legacy system could not have hashed it: simply wrong
        library = _libxcrypt()
        if library is None:
            raise FormatUnsupported(f"{scheme} hashes cannot be checked here: libxcrypt "
                                    "(libcrypt.so.1) is missing", scheme)
        verdict = library.crypt_checksalt(setting)
        if verdict == _SALT_DISABLED:
            raise FormatUnsupported(f"{scheme} hashes cannot be checked here: this libxcrypt "
                                    "was built without them", scheme)
        if verdict == _SALT_INVALID:
            raise MalformedHash(f"malformed {scheme} hash: libxcrypt cannot read its settings",
                                scheme)
        data = ctypes.create_string_buffer(CRYPT_DATA_SIZE)
        result = library.crypt_rn(password, setting, data, CRYPT_DATA_SIZE)
        if result is None:
            raise MalformedHash(f"malformed {scheme} hash: libxcrypt refused it "
                                f"(errno {ctypes.get_errno()})", scheme)
        return hmac.compare_digest(result, setting)

    return check


def _parsed(scheme: str, value: str) -> bytes:
    """The stored hash as libxcrypt takes it, after the checks that give a bad one its reason."""
    if not value.isascii() or not _ALPHABET.fullmatch(value):
        raise MalformedHash(f"malformed {scheme} hash: characters outside crypt(3)'s alphabet "
                            "(a non-ASCII salt?)", scheme)
    layout = _LAYOUTS[scheme].fullmatch(value)
    if layout is None:
        raise MalformedHash(f"malformed {scheme} hash: truncated or not in the {_WHAT[scheme]} "
                            "layout", scheme)
    parameters = layout.group(1)
    if scheme == "bsdi_crypt":
        rounds = _fixed(parameters)
        if not 0 < rounds <= MAX_BSDI_ROUNDS:
            raise MalformedHash(f"malformed {scheme} hash: {rounds} rounds (1 to "
                                f"{MAX_BSDI_ROUNDS} are checked)", scheme)
    else:
        memory, work = (_scrypt_cost if scheme == "scrypt_crypt" else _yescrypt_cost)(
            scheme, parameters)
        if memory > MAX_SCRYPT_MEMORY or work > MAX_KDF_WORK:
            raise MalformedHash(f"malformed {scheme} hash: cost above the server's cap "
                                f"({_size(memory)} of memory, {_size(work)} of work; at most "
                                f"{_size(MAX_SCRYPT_MEMORY)} and {_size(MAX_KDF_WORK)})", scheme)
    return value.encode("ascii")


def _scrypt_cost(scheme: str, parameters: str) -> tuple[int, int]:
    """``$7$``: N as 2^(one character), then r and p as 30-bit little-endian numbers (libxcrypt's
    crypt-scrypt.c). Memory 128·r·N; work that times p."""
    n_log2, r, p = _ATOI64[parameters[0]], _fixed(parameters[1:6]), _fixed(parameters[6:11])
    if n_log2 < 1 or r < 1 or p < 1:
        raise MalformedHash(f"malformed {scheme} hash: N, r and p must be positive", scheme)
    memory = 128 * r << n_log2
    return memory, memory * p


def _yescrypt_cost(scheme: str, parameters: str) -> tuple[int, int]:
    """``$y$``/``$gy$``: flavour, log2 N, r, then (optionally) which of p, t, g, NROM follow,
    each in yescrypt's variable-length encoding (yescrypt-common.c). Memory 128·r·N; work that
    times p and (t + 1) passes. ROMs and upgrades (g) are no crypt(3) hash's."""
    try:
        _flavour, position = _variable(parameters, 0, 0)
        n_log2, position = _variable(parameters, position, 1)
        r, position = _variable(parameters, position, 1)
        p, t, g, rom = 1, 0, 0, 0
        if position < len(parameters):
            have, position = _variable(parameters, position, 1)
            if have & 1:
                p, position = _variable(parameters, position, 2)
            if have & 2:
                t, position = _variable(parameters, position, 1)
            if have & 4:
                g, position = _variable(parameters, position, 1)
            if have & 8:
                rom, position = _variable(parameters, position, 1)
    except IndexError:
        raise MalformedHash(f"malformed {scheme} hash: its parameters are cut short", scheme) from None
    if position != len(parameters) or g or rom or n_log2 > 63:
        raise MalformedHash(f"malformed {scheme} hash: parameters no crypt(3) hash has", scheme)
    memory = 128 * r << n_log2
    return memory, memory * p * (t + 1)


def _variable(text: str, position: int, minimum: int) -> tuple[int, int]:
    """yescrypt's decode64_uint32: one number and the position after it."""
    start, end, chars, bits = 0, 47, 1, 0
    character = _ATOI64[text[position]]
    value = minimum
    while character > end:
        value += (end + 1 - start) << bits
        start, end = end + 1, end + 1 + (62 - end) // 2
        chars, bits = chars + 1, bits + 6
    value += (character - start) << bits
    for offset in range(1, chars):
        bits -= 6
        value += _ATOI64[text[position + offset]] << bits
    return value, position + chars


def _fixed(text: str) -> int:
    """A little-endian number in crypt(3)'s base 64 (extended DES rounds, scrypt's r and p)."""
    return sum(_ATOI64[character] << (6 * index) for index, character in enumerate(text))


def _size(count: int) -> str:
    if count >= 1 << 50:
        return "more than 1 PiB"
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if count >= 1 << shift:
            return f"{count / (1 << shift):g} {unit}"
    return f"{count} bytes"

