"""Legacy data for the ``hashes`` connector's tests: the users and passwords, each stored hash
format as the software legacy systems use writes it (bcrypt, argon2-cffi, libpass, Django's
``make_password``, OpenLDAP's ``slappasswd``, ``hashlib``, and the published Firebase and WordPress
6.8 vectors), and the export files, SQLite and PostgreSQL settings built from them."""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import json
import os
import subprocess
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt
import pytest
from argon2 import PasswordHasher, Type
from passlib import hash as passlib_hash

from settings.errors import ConfigError
from tests.connectors.contract import build_connector

ALICE, BOB, DAVE = "alice@example.com", "bob@example.com", "dave@example.com"
#: The title of the default journey's page for a user whose legacy record cannot be used.
ACCOUNT_PROBLEM = "We can't sign you in with this account yet"
PASSWORD = "correct horse ✓ battery"
WRONG = "Correct horse ✓ battery"
MAPPING = {"email": "email", "given_name": "first_name", "family_name": "last_name"}

# github.com/firebase/scrypt README: the sample project's hash parameters and exported account.
FIREBASE = {
    "firebase_signer_key": "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUS"
                           "DzZvpjeJ9WmXA==",
    "firebase_salt_separator": "Bw==", "firebase_rounds": 8, "firebase_mem_cost": 14,
}
FIREBASE_PASSWORD, FIREBASE_SALT = "user1password", "42xEC+ixf3L2lw=="
FIREBASE_HASH = "lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ=="
# A WordPress 6.8+ hash of "password" published in a public project's test.
WORDPRESS_PUBLISHED = "$wp$2y$10$/ktG/bzsEU/Ag7umrbqsTeiSLAJ4IXWjA5ZaN/ZBjqQZ.oNDEP1Vm"


# -- hashes as legacy systems write them ------------------------------------------------------
def passlib(name: str, **using) -> Callable[[str], str]:
    handler = getattr(passlib_hash, name)
    return (handler.using(**using) if using else handler).hash


def slappasswd(scheme: str, *options: str) -> Callable[[str], str]:
    """OpenLDAP's own tool (Debian slapd), as an LDAP directory stores userPassword."""
    def make(password: str) -> str:
        return subprocess.run(["slappasswd", "-h", scheme, *options, "-s", password],
                              check=True, capture_output=True, text=True).stdout.strip()
    return make


def django(hasher_path: str, **fast) -> Callable[[str], str]:
    """Django's make_password with the named hasher (made cheap: tests, not production)."""
    def make(password: str) -> str:
        from django.conf import settings

        if not settings.configured:
            settings.configure(PASSWORD_HASHERS=[f"django.contrib.auth.hashers.{name}" for name in (
                "PBKDF2PasswordHasher", "PBKDF2SHA1PasswordHasher", "Argon2PasswordHasher",
                "BCryptSHA256PasswordHasher", "BCryptPasswordHasher", "ScryptPasswordHasher",
                "MD5PasswordHasher")])
        from django.contrib.auth import hashers

        hasher_class = getattr(hashers, hasher_path)
        return hashers.make_password(password, hasher=type("Fast", (hasher_class,), fast)())
    return make


def wordpress(password: str) -> str:
    """wp_hash_password() of WordPress 6.8 (wp-includes/pluggable.php), bcrypt $2y$."""
    prehash = base64.b64encode(hmac.new(b"wp-sha384", password.strip().encode(), hashlib.sha384).digest())
    return "$wp" + bcrypt.hashpw(prehash, bcrypt.gensalt(4)).decode().replace("$2b$", "$2y$", 1)


def ldap_digest(scheme: str, algorithm: str, salt: bytes = b"") -> Callable[[str], str]:
    def make(password: str) -> str:
        digest = hashlib.new(algorithm, password.encode() + salt).digest()
        return scheme + base64.b64encode(digest + salt).decode()
    return make


def hexdigest(algorithm: str) -> Callable[[str], str]:
    return lambda password: hashlib.new(algorithm, password.encode()).hexdigest()


FAST_ARGON2 = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@dataclass
class Format:
    scheme: str
    make: Callable[[str], str]
    password: str = PASSWORD
    wrong: str = WRONG
    salt: str | None = None
    settings: dict = field(default_factory=dict)


def salted(algorithm: str, salt: bytes, position: str, encoding: str) -> Callable[[str], str]:
    def make(password: str) -> str:
        message = salt + password.encode() if position == "prefix" else password.encode() + salt
        digest = hashlib.new(algorithm, message).digest()
        return digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    return make


FORMAT_CASES = {
    "bcrypt-2b": Format("bcrypt", lambda p: bcrypt.hashpw(p.encode(), bcrypt.gensalt(4)).decode()),
    "bcrypt-2a": Format("bcrypt", passlib("bcrypt", ident="2a", rounds=4)),
    "bcrypt-2y": Format("bcrypt", passlib("bcrypt", ident="2y", rounds=4)),
    "wordpress": Format("wordpress_bcrypt", wordpress),
    "wordpress-published": Format("wordpress_bcrypt", lambda p: WORDPRESS_PUBLISHED,
                                  password="password", wrong="Password"),
    "bcrypt_sha256": Format("bcrypt_sha256", passlib("bcrypt_sha256", rounds=4)),
    "phpass-P": Format("phpass", passlib("phpass", rounds=8)),
    "phpass-H": Format("phpass", passlib("phpass", ident="H", rounds=8)),
    "md5_crypt": Format("md5_crypt", passlib("md5_crypt")),
    "apr_md5_crypt": Format("apr_md5_crypt", passlib("apr_md5_crypt")),
    "sha256_crypt": Format("sha256_crypt", passlib("sha256_crypt", rounds=1000)),
    "sha512_crypt": Format("sha512_crypt", passlib("sha512_crypt", rounds=1000)),
    "argon2id": Format("argon2", FAST_ARGON2.hash),
    "argon2i": Format("argon2", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1,
                                               type=Type.I).hash),
    "scrypt": Format("scrypt", passlib("scrypt", rounds=4)),
    "pbkdf2_sha1": Format("pbkdf2_sha1", passlib("pbkdf2_sha1", rounds=1000)),
    "pbkdf2_sha256": Format("pbkdf2_sha256", passlib("pbkdf2_sha256", rounds=1000)),
    "pbkdf2_sha512": Format("pbkdf2_sha512", passlib("pbkdf2_sha512", rounds=1000)),
    "django_pbkdf2_sha256": Format("django_pbkdf2_sha256", django("PBKDF2PasswordHasher", iterations=1000)),
    "django_pbkdf2_sha1": Format("django_pbkdf2_sha1", django("PBKDF2SHA1PasswordHasher", iterations=1000)),
    "django_bcrypt_sha256": Format("django_bcrypt_sha256", django("BCryptSHA256PasswordHasher", rounds=4)),
    "django_bcrypt": Format("django_bcrypt", django("BCryptPasswordHasher", rounds=4)),
    "django_argon2": Format("django_argon2", django("Argon2PasswordHasher", time_cost=1,
                                                    memory_cost=1024, parallelism=1)),
    "django_scrypt": Format("django_scrypt", django("ScryptPasswordHasher", work_factor=2**10,
                                                    parallelism=1)),
    "django_salted_md5": Format("django_salted_md5", django("MD5PasswordHasher")),
    "django_salted_sha1": Format("django_salted_sha1", passlib("django_salted_sha1")),
    "ldap_ssha": Format("ldap_ssha", slappasswd("{SSHA}")),
    "ldap_ssha-lower-case": Format("ldap_ssha",
                                   lambda p: slappasswd("{SSHA}")(p).replace("{SSHA}", "{ssha}")),
    "ldap_ssha256": Format("ldap_ssha256", passlib("ldap_salted_sha256")),
    "ldap_ssha384": Format("ldap_ssha384", ldap_digest("{SSHA384}", "sha384", os.urandom(8))),
    "ldap_ssha512": Format("ldap_ssha512", passlib("ldap_salted_sha512")),
    "ldap_sha": Format("ldap_sha", slappasswd("{SHA}")),
    "ldap_sha256": Format("ldap_sha256", ldap_digest("{SHA256}", "sha256")),
    "ldap_sha384": Format("ldap_sha384", ldap_digest("{SHA384}", "sha384")),
    "ldap_sha512": Format("ldap_sha512", ldap_digest("{SHA512}", "sha512")),
    "ldap_md5": Format("ldap_md5", slappasswd("{MD5}")),
    "ldap_smd5": Format("ldap_smd5", slappasswd("{SMD5}")),
    "ldap_crypt-sha512": Format("ldap_crypt", slappasswd("{CRYPT}", "-c", "$6$%.16s")),
    "ldap_crypt-md5": Format("ldap_crypt", slappasswd("{CRYPT}", "-c", "$1$%.8s")),
    "ldap_pbkdf2_sha1": Format("ldap_pbkdf2_sha1", passlib("ldap_pbkdf2_sha1", rounds=1000)),
    "ldap_pbkdf2_sha256": Format("ldap_pbkdf2_sha256", passlib("ldap_pbkdf2_sha256", rounds=1000)),
    "ldap_pbkdf2_sha256-lower-case": Format("ldap_pbkdf2_sha256", lambda p: passlib(
        "ldap_pbkdf2_sha256", rounds=1000)(p).replace("{PBKDF2-SHA256}", "{pbkdf2-sha256}")),
    "ldap_pbkdf2_sha512": Format("ldap_pbkdf2_sha512", passlib("ldap_pbkdf2_sha512", rounds=1000)),
    "ldap_argon2": Format("ldap_argon2", lambda p: "{ARGON2}" + FAST_ARGON2.hash(p)),
    "mysql41": Format("mysql41", passlib("mysql41")),
    "firebase_scrypt": Format("firebase_scrypt", lambda p: FIREBASE_HASH, password=FIREBASE_PASSWORD,
                              wrong="user1Password", salt=FIREBASE_SALT, settings=FIREBASE),
    "salted_sha-sha256-prefix-hex": Format(
        "salted_sha", salted("sha256", b"pepperoni", "prefix", "hex"), salt="pepperoni",
        settings={"salted_sha": {"algorithm": "sha256"}}),
    "salted_sha-sha512-suffix-base64": Format(
        "salted_sha", salted("sha512", bytes.fromhex("00ff10"), "suffix", "base64"), salt="00ff10",
        settings={"salted_sha": {"algorithm": "sha512", "salt_position": "suffix",
                                 "encoding": "base64", "salt_encoding": "hex"}}),
    "md5_hex": Format("md5_hex", hexdigest("md5")),
    "md5_hex-upper-case": Format("md5_hex", lambda p: hexdigest("md5")(p).upper()),
    "sha1_hex": Format("sha1_hex", hexdigest("sha1")),
    "sha256_hex": Format("sha256_hex", hexdigest("sha256")),
    # crypt(3) reads 8 characters: a wrong password must differ within them.
    "des_crypt": Format("des_crypt", passlib("des_crypt"), password="s3cr3t!", wrong="s3cr3t?"),
}


# -- building sources ---------------------------------------------------------------------------
def write_csv(path: Path, rows: list[dict], header: list[str] | None = None) -> Path:
    header = header or list(rows[0])
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def people(**hashes: str) -> list[dict]:
    """Rows for alice, bob and dave (disabled), with the hashes given by first name."""
    rows = []
    for number, (first, last) in enumerate((("alice", "Liddell"), ("bob", "Dylan"), ("dave", "Bowman")), 1):
        rows.append({"id": f"legacy-{number}", "email": f"{first}@example.com",
                     "password_hash": hashes.get(first, ""), "first_name": first.title(),
                     "last_name": last, "is_active": "0" if first == "dave" else "1"})
    return rows


def hashes_table(path: Path, **settings) -> dict:
    source = "jsonl" if path.suffix == ".jsonl" else path.suffix.lstrip(".")
    return {"type": "hashes", "source": source, "path": str(path), "mapping": MAPPING, **settings}


@contextmanager
def moved_away(path: Path):
    aside = path.with_name(path.name + ".away")
    os.replace(path, aside)
    try:
        yield
    finally:
        os.replace(aside, path)


# -- the file itself -----------------------------------------------------------------------------
def config_problem(app, table) -> str:
    with pytest.raises(ConfigError) as refused:
        build_connector(app, table)
    return str(refused.value)


# -- SQL: SQLite ---------------------------------------------------------------------------------
QUERY = ("SELECT id, email, password_hash, first_name, last_name, is_active, created_at, avatar "
         "FROM users WHERE lower(email) = lower(:identifier)")


def sqlite_table(path: Path, query: str = QUERY, **settings) -> dict:
    return {"type": "hashes", "source": "sql", "database_url": f"sqlite:///{path}", "query": query,
            "active_field": "is_active", "mapping": MAPPING, **settings}


# -- SQL: PostgreSQL -----------------------------------------------------------------------------
PG_PASSWORD = "pg-password-never-logged"


def postgres_table(url: str, query: str = QUERY.replace(", avatar", ""), **settings) -> dict:
    return {"type": "hashes", "source": "sql", "database_url": url, "query": query,
            "active_field": "is_active", "mapping": MAPPING, **settings}
