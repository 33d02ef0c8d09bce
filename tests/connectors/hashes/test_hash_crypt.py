"""crypt(3) hashes only libxcrypt checks: yescrypt, gost-yescrypt, scrypt-crypt, extended DES.

Every vector is written by the software that writes these hashes: ``mkpasswd`` (Debian's whois
package, over libxcrypt; ``make test`` installs it) and PHP's ``crypt()`` for extended DES, run
here when installed, plus hashes those tools wrote once (mkpasswd 5.5.17, PHP 8.2, Debian 12),
so the checks run on a machine without them too. OpenLDAP's ``slappasswd`` writes ``{CRYPT}$7$``.
"""

from __future__ import annotations

import shutil
import subprocess
import threading

import pytest

from connectors import InvalidCredentials
from connectors.hashes import crypt_family
from tests.connectors.hashes.hash_vectors import (
    Vector,
    assert_accepts_only_the_password,
    connector_for,
    listed,
    refusal,
)
from tests.connectors.hashes.legacy import ALICE, PASSWORD, WRONG

# Written by mkpasswd 5.5.17 (whois, Debian 12) and PHP 8.2's crypt() from PASSWORD.
RECORDED = {
    "yescrypt": "$y$j9T$sp7oWuzSqCnEbVRNIpbry.$FJ5l9EZwjk3sFpook4s0nyceA3Y8EPxzxlm97uj/AN9",
    "gost_yescrypt": "$gy$j9T$qnaM82natlh0lxwCTkZki1$geTabIBJFXc7870lQGGodplXXMqSPlD2/K.JQfqVwu0",
    "scrypt_crypt": "$7$CU..../....PBNM50H22wZu6QrowALsw/$4t.TiK05GB82mACH3zFcv2oYNaCMrgQDEBzRkv/aJ7/",
    "bsdi_crypt": "_J9..jv2hVDXPz4CSu9I",
    "bsdi_crypt-php": "_J9..FerrMLc//gvZau6",
    "bsdi_crypt-php-freebsd-rounds": "_7C/.FerrZIjyBY34JrY",
}
MKPASSWD_METHODS = {"yescrypt": "yescrypt", "gost-yescrypt": "gost_yescrypt",
                    "scrypt": "scrypt_crypt", "bsdicrypt": "bsdi_crypt"}

needs_mkpasswd = pytest.mark.skipif(shutil.which("mkpasswd") is None,
                                    reason="mkpasswd (Debian package whois) is not installed")
needs_php = pytest.mark.skipif(shutil.which("php") is None, reason="php-cli is not installed")


def mkpasswd(method: str, password: str, *options: str) -> str:
    """``mkpasswd -m METHOD``: what an administrator writes into /etc/shadow."""
    return subprocess.run(["mkpasswd", "-m", method, *options, "-s"], input=password, check=True,
                          capture_output=True, text=True, timeout=60).stdout.strip()


def php_crypt(password: str, salt: str) -> str:
    """PHP's ``crypt()``: a ``_`` salt makes BSDi extended DES."""
    code = "echo crypt($argv[1], $argv[2]);"
    return subprocess.run(["php", "-r", code, password, salt], check=True, capture_output=True,
                          text=True, timeout=60).stdout


def _scheme(key: str) -> str:
    return key.split("-")[0]


@pytest.mark.parametrize("key", RECORDED)
def test_recorded_hashes_accept_the_right_password_only(app, tmp_path, key):
    assert_accepts_only_the_password(app, tmp_path, Vector(
        _scheme(key), RECORDED[key], PASSWORD, WRONG, "mkpasswd / php, recorded"))


@needs_mkpasswd
@pytest.mark.parametrize(("method", "options"), [
    *[(method, ()) for method in MKPASSWD_METHODS],
    ("yescrypt", ("-R", "3")), ("yescrypt", ("-R", "7")), ("scrypt", ("-R", "6")),
    ("bsdicrypt", ("-R", "7250")),
])
def test_mkpasswd_hashes_accept_the_right_password_only(app, tmp_path, method, options):
    stored = mkpasswd(method, PASSWORD, *options)
    assert_accepts_only_the_password(app, tmp_path, Vector(
        MKPASSWD_METHODS[method], stored, PASSWORD, WRONG, "mkpasswd"))


@needs_php
@pytest.mark.parametrize("salt", ["_J9..abcd", "_7C/.Ferr", "_/...zzzz"])
def test_php_extended_des_accepts_the_right_password_only(app, tmp_path, salt):
    stored = php_crypt(PASSWORD, salt)
    assert stored.startswith(salt) and len(stored) == 20
    assert_accepts_only_the_password(app, tmp_path, Vector("bsdi_crypt", stored, PASSWORD, WRONG, "php"))


def test_ldap_crypt_holds_the_libxcrypt_formats_too(app, tmp_path):
    """OpenLDAP's {CRYPT} hands the rest to crypt(3): on current systems $y$ or $7$."""
    for inner in ("yescrypt", "scrypt_crypt"):
        assert_accepts_only_the_password(app, tmp_path, Vector(
            "ldap_crypt", "{CRYPT}" + RECORDED[inner], PASSWORD, WRONG, "mkpasswd in {CRYPT}"))


@pytest.mark.skipif(shutil.which("slappasswd") is None, reason="slapd is not installed")
def test_slappasswd_crypt_scrypt_is_checked(app, tmp_path):
    stored = subprocess.run(["slappasswd", "-h", "{CRYPT}", "-c", "$7$CU..../....%.22s", "-s", PASSWORD],
                            check=True, capture_output=True, text=True, timeout=60).stdout.strip()
    assert_accepts_only_the_password(app, tmp_path, Vector("ldap_crypt", stored, PASSWORD, WRONG,
                                                           "slappasswd"))


def test_extended_des_is_accepted_only_when_listed(app, tmp_path):
    reason = refusal(app, tmp_path, RECORDED["bsdi_crypt"], PASSWORD)
    assert reason == "hash format bsdi_crypt not enabled"
    assert listed("bsdi_crypt") is not None and listed("yescrypt") is None


def test_a_tampered_hash_is_a_wrong_password(app, tmp_path):
    stored = RECORDED["yescrypt"]
    tampered = stored[:-3] + ("A" if stored[-3] != "A" else "B") + stored[-2:]
    connector = connector_for(app, tmp_path, tampered)
    with pytest.raises(InvalidCredentials):
        connector.verify(ALICE, PASSWORD)


_Y = RECORDED["yescrypt"]
_SALT_AND_HASH = _Y[len("$y$j9T"):]
_S = RECORDED["scrypt_crypt"]


@pytest.mark.parametrize(("stored", "schemes", "reason"), [
    pytest.param(_Y[:-5], None, "malformed yescrypt hash: truncated", id="yescrypt-truncated"),
    pytest.param(_Y[:12], None, "malformed yescrypt hash: truncated", id="yescrypt-settings-only"),
    pytest.param(RECORDED["gost_yescrypt"][:30], None, "malformed gost_yescrypt hash: truncated",
                 id="gost-truncated"),
    pytest.param(_S[:-1], None, "malformed scrypt_crypt hash: truncated", id="scrypt-truncated"),
    pytest.param("_J9..jv2hVDXPz4", ["bsdi_crypt"], "malformed bsdi_crypt hash: truncated",
                 id="bsdi-truncated"),
    pytest.param(_Y.replace("sp7o", "sp7ö"), None, "malformed yescrypt hash: characters outside",
                 id="yescrypt-non-ascii-salt"),
    pytest.param(_S.replace("PBNM", "PBN\u00a0"), None, "malformed scrypt_crypt hash: characters outside",
                 id="scrypt-non-ascii-salt"),
    pytest.param("_J9..jv2é" + "A" * 11, ["bsdi_crypt"], "malformed bsdi_crypt hash: characters outside",
                 id="bsdi-non-ascii-salt"),
    # N = 2^20, r = 32: 4 GiB (mkpasswd's highest cost, -R 11, is 1 GiB)
    pytest.param("$y$jHT" + _SALT_AND_HASH, None, "malformed yescrypt hash: cost above the server's cap",
                 id="yescrypt-memory"),
    # N = 2^18, r = 32 (1 GiB) with t = 9: ten passes, 10 GiB of work
    pytest.param("$y$jFT/6" + _SALT_AND_HASH, None, "malformed yescrypt hash: cost above the server's cap",
                 id="yescrypt-passes"),
    pytest.param("$y$j" + _SALT_AND_HASH, None, "malformed yescrypt hash: its parameters are cut short",
                 id="yescrypt-parameters-cut"),
    pytest.param("$7$zU" + _S[len("$7$CU"):], None,
                 "malformed scrypt_crypt hash: cost above the server's cap", id="scrypt-memory"),
    # N = 2^14, r = 32 (64 MiB) with p = 2^20 lanes
    pytest.param("$7$CU.......2." + _S[len("$7$CU..../...."):], None,
                 "malformed scrypt_crypt hash: cost above the server's cap", id="scrypt-lanes"),
    pytest.param("_zzzzjv2hVDXPz4CSu9I", ["bsdi_crypt"], "malformed bsdi_crypt hash: 16777215 rounds",
                 id="bsdi-rounds"),
    pytest.param("_....jv2hVDXPz4CSu9I", ["bsdi_crypt"], "malformed bsdi_crypt hash: 0 rounds",
                 id="bsdi-zero"),
    pytest.param("$q$j9T" + _SALT_AND_HASH, None, "hash format not recognised", id="unknown-prefix"),
])
def test_a_broken_or_costly_hash_is_refused_for_that_user_with_its_reason(app, tmp_path, monkeypatch,
                                                                          stored, schemes, reason):
    calls = []
    real = crypt_family._libxcrypt
    monkeypatch.setattr(crypt_family, "_libxcrypt", lambda: calls.append(1) or real())
    assert refusal(app, tmp_path, stored, PASSWORD, schemes).startswith(reason)
    if "cost" in reason or "rounds" in reason:
        assert not calls, "a capped hash must be refused before libxcrypt runs"


def test_a_password_libxcrypt_cannot_take_is_a_wrong_password(app, tmp_path):
    connector = connector_for(app, tmp_path, RECORDED["yescrypt"])
    for password in ("correct\0horse", "x" * 600):
        with pytest.raises(InvalidCredentials):
            connector.verify(ALICE, password)


def test_without_libxcrypt_those_users_are_refused_with_the_reason(app, tmp_path, monkeypatch):
    monkeypatch.setattr(crypt_family, "_libxcrypt", lambda: None)
    reason = refusal(app, tmp_path, RECORDED["yescrypt"], PASSWORD)
    assert reason == "yescrypt hashes cannot be checked here: libxcrypt (libcrypt.so.1) is missing"


def test_concurrent_checks_keep_their_own_crypt_data(app, tmp_path):
    """crypt_rn with a buffer per call: threads never see each other's results."""
    connector = connector_for(app, tmp_path, RECORDED["scrypt_crypt"])
    (tmp_path / "second").mkdir()
    yescrypt = connector_for(app, tmp_path / "second", RECORDED["yescrypt"])
    results: list[bool] = []

    def check(which, password: str) -> None:
        try:
            results.append(which.verify(ALICE, password).subject == "u1")
        except InvalidCredentials:
            results.append(password != PASSWORD)

    threads = [threading.Thread(target=check, args=(which, password))
               for _ in range(4) for which in (connector, yescrypt) for password in (PASSWORD, WRONG)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * len(threads)
