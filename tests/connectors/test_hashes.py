"""The ``hashes`` connector against export files, a SQLite file and a PostgreSQL table made here.

Every stored hash is produced by the software legacy systems use: bcrypt, argon2-cffi, libpass
(passlib), Django's ``make_password``, OpenLDAP's ``slappasswd``, ``hashlib``; Firebase's
modified scrypt and WordPress 6.8's ``$wp$`` format are also checked against published vectors.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import json
import logging
import os
import socket
import sqlite3
import subprocess
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import bcrypt
import psycopg
import pytest
from argon2 import PasswordHasher, Type
from passlib import hash as passlib_hash

from connectors import AccountBlocked, InvalidCredentials, LegacyUnavailable, UserNotFound
from connectors.legacy_hashes import AUTO_DETECTED, FORMATS, Stored
from models import AuditEvent, LegacyLink, PasswordCredential, User, db
from settings.errors import ConfigError
from tests.accounts import count_users
from tests.conftest import SignIn, deployment
from tests.connectors.conftest import UNAVAILABLE, WRONG_CREDENTIALS, page_text, retry_after
from tests.connectors.contract import ContractCase, PasswordConnectorContract, build_connector
from tests.postgres import postgres_url, reset_postgres

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


def test_every_format_has_a_case():
    assert {case.scheme for case in FORMAT_CASES.values()} == set(FORMATS)


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


@pytest.fixture
def export(tmp_path) -> Path:
    """A CSV export: alice (bcrypt), bob (Django PBKDF2), dave (bcrypt, inactive)."""
    return write_csv(tmp_path / "users.csv", people(
        alice=bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode(),
        bob=django("PBKDF2PasswordHasher", iterations=1000)(PASSWORD),
        dave=bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()))


@contextmanager
def moved_away(path: Path):
    aside = path.with_name(path.name + ".away")
    os.replace(path, aside)
    try:
        yield
    finally:
        os.replace(aside, path)


class TestHashesFileContract(PasswordConnectorContract):
    @pytest.fixture
    def contract_case(self, app, export):
        return ContractCase(
            connector=build_connector(app, hashes_table(export, active_field="is_active")),
            identifier=ALICE, password=PASSWORD, wrong_password=WRONG,
            unknown_identifier="nobody@example.com", expected_email=ALICE,
            outage=lambda: moved_away(export),
        )


class TestHashesFirebaseContract(PasswordConnectorContract):
    """Firebase's auth:export JSON, its published sample account, and its secret signer key."""

    @pytest.fixture
    def contract_case(self, app, tmp_path):
        path = tmp_path / "firebase.json"
        path.write_text(json.dumps({"users": [
            {"localId": "kYi4EvWQlQTKSfnJ3dRSP6IH3ed2", "email": "user1@test.com", "emailVerified": False,
             "passwordHash": FIREBASE_HASH, "salt": FIREBASE_SALT, "displayName": "Test User 1",
             "createdAt": "1508893925000", "disabled": False},
            {"localId": "phone-only", "phoneNumber": "+15555550100"},  # no e-mail: skipped
        ]}))
        return ContractCase(
            connector=build_connector(app, {
                "type": "hashes", "source": "json", "path": str(path), "identifier_field": "email",
                "hash_field": "passwordHash", "salt_field": "salt", "subject_field": "localId",
                "disabled_field": "disabled", "schemes": ["firebase_scrypt"], **FIREBASE,
                "mapping": {"email": "email", "email_verified": "emailVerified|bool", "name": "displayName"},
            }),
            identifier="user1@test.com", password=FIREBASE_PASSWORD, wrong_password="user1Password",
            unknown_identifier="nobody@example.com", expected_email="user1@test.com",
            outage=lambda: moved_away(path), secrets=(FIREBASE["firebase_signer_key"],),
        )


# -- each format --------------------------------------------------------------------------------
@pytest.mark.parametrize("case", FORMAT_CASES.values(), ids=FORMAT_CASES.keys())
def test_each_format_accepts_the_right_password_only(app, tmp_path, case):
    stored = case.make(case.password)
    path = write_jsonl(tmp_path / "users.jsonl", [
        {"id": 7, "email": "Alice@Example.com", "password_hash": stored, "salt": case.salt,
         "first_name": "Alice"}])
    settings = {"salt_field": "salt"} if case.salt else {}
    settings.update(case.settings)
    if not FORMATS[case.scheme].auto:  # formats without a prefix are used only when listed
        settings["schemes"] = [case.scheme]
    connector = build_connector(app, hashes_table(path, **settings))

    assert connector.verifier.identify(Stored(stored, case.salt)) == case.scheme
    identity = connector.verify(ALICE, case.password)
    assert (identity.subject, identity.claims["first_name"]) == ("7", "Alice")
    assert "password_hash" not in identity.claims and "salt" not in identity.claims
    with pytest.raises(InvalidCredentials) as wrong:
        connector.verify(ALICE, case.wrong)
    assert type(wrong.value) is InvalidCredentials  # a wrong password, not an unknown user


def test_the_default_formats_are_exactly_those_with_a_prefix_of_their_own():
    assert set(AUTO_DETECTED) == {name for name, f in FORMATS.items() if f.auto}
    assert not {"md5_hex", "sha1_hex", "sha256_hex", "des_crypt", "salted_sha",
                "firebase_scrypt"} & set(AUTO_DETECTED)


def test_bcrypt_compares_the_first_72_bytes_as_the_legacy_system_did(app, tmp_path):
    long_password = "x" * 72 + "tail the legacy system never saw"
    path = write_jsonl(tmp_path / "users.jsonl", [{"id": 1, "email": ALICE, "password_hash":
                                                    passlib("bcrypt", rounds=4)("x" * 72)}])
    connector = build_connector(app, hashes_table(path))
    assert connector.verify(ALICE, long_password).subject == "1"
    with pytest.raises(InvalidCredentials):
        connector.verify(ALICE, "x" * 71)


# -- what the legacy data can get wrong ---------------------------------------------------------
@pytest.mark.parametrize(("stored", "schemes", "reason"), [
    pytest.param("bcrypt", ["argon2", "phpass"], "hash format bcrypt not enabled", id="prefixed"),
    pytest.param("md5", None, "hash format md5_hex not enabled", id="shape-only"),
])
def test_a_format_nobody_enabled_is_unavailable_not_a_wrong_password(app, tmp_path, caplog, stored,
                                                                    schemes, reason):
    value = (bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode() if stored == "bcrypt"
             else hexdigest("md5")(PASSWORD))
    path = write_jsonl(tmp_path / "users.jsonl", [{"id": "u1", "email": ALICE, "password_hash": value}])
    connector = build_connector(app, hashes_table(path, **({"schemes": schemes} if schemes else {})))

    for password in (PASSWORD, WRONG):
        with pytest.raises(LegacyUnavailable) as refused:
            connector.verify(ALICE, password)
        assert refused.value.reason == reason
    [line, *_] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert reason in line.getMessage() and "schemes" in line.getMessage()
    assert "legacy user u1" in line.getMessage()


@pytest.mark.parametrize(("stored", "reason"), [
    ("$2b$12$cut.short", "malformed bcrypt hash"),
    ("pbkdf2_sha256$many$salt$hash", "malformed django_pbkdf2_sha256 hash"),
    ("{SSHA}not base64!", "malformed ldap_ssha hash"),
    ("{SHA}" + base64.b64encode(b"too short").decode(), "malformed ldap_sha hash"),
    ("$argon2id$v=19$m=1024,t=1,p=1$broken", "malformed argon2 hash"),
    ("$P$Btooshort", "malformed phpass hash"),
    ("what is this", "hash format not recognised"),
])
def test_a_malformed_hash_is_unavailable(app, tmp_path, stored, reason):
    path = write_jsonl(tmp_path / "users.jsonl", [{"id": "u1", "email": ALICE, "password_hash": stored}])
    connector = build_connector(app, hashes_table(path))
    with pytest.raises(LegacyUnavailable) as refused:
        connector.verify(ALICE, PASSWORD)
    assert refused.value.reason.startswith(reason)


def test_disabled_accounts_are_blocked_only_after_the_right_password(app, tmp_path, export):
    csv_connector = build_connector(app, hashes_table(export, active_field="is_active"))
    jsonl = write_jsonl(tmp_path / "users.jsonl", [
        {"id": 1, "email": DAVE, "password_hash": passlib("md5_crypt")(PASSWORD), "disabled": True},
        {"id": 2, "email": ALICE, "password_hash": passlib("md5_crypt")(PASSWORD), "disabled": False},
        {"id": 3, "email": BOB, "password_hash": passlib("md5_crypt")(PASSWORD),
         "disabled": "2021-03-04T05:06:07Z"}])  # a "disabled_at" date counts as disabled
    jsonl_connector = build_connector(app, hashes_table(jsonl, disabled_field="disabled"))

    for connector in (csv_connector, jsonl_connector):
        with pytest.raises(AccountBlocked) as blocked:
            connector.verify(DAVE, PASSWORD)
        assert blocked.value.reason == "disabled"
        with pytest.raises(InvalidCredentials):  # no hint that the account exists
            connector.verify(DAVE, WRONG)
        assert connector.verify(ALICE, PASSWORD).claims["email"] == ALICE
    with pytest.raises(AccountBlocked):
        jsonl_connector.verify(BOB, PASSWORD)


def test_a_user_without_a_password_is_a_wrong_password_not_an_unknown_user(app, tmp_path):
    path = write_csv(tmp_path / "users.csv", people(alice=""))
    connector = build_connector(app, hashes_table(path))
    with pytest.raises(InvalidCredentials) as refused:
        connector.verify(ALICE, PASSWORD)
    assert type(refused.value) is InvalidCredentials
    with pytest.raises(UserNotFound):
        connector.verify("nobody@example.com", PASSWORD)


def test_lookup_finds_the_profile_without_a_password(app, export):
    connector = build_connector(app, hashes_table(export, active_field="is_active"))
    assert connector.supports_lookup
    found = connector.find("alice@example.com")
    assert (found.subject, found.claims["last_name"]) == ("legacy-1", "Liddell")
    assert "password_hash" not in found.claims
    assert connector.find("nobody@example.com") is None
    with pytest.raises(AccountBlocked):
        connector.find(DAVE)


@pytest.mark.parametrize(("send_identifier", "finds_lower_case"), [(None, True), ("as_typed", False)])
def test_identifiers_in_the_file_are_normalised_like_ferrys(app, tmp_path, send_identifier,
                                                            finds_lower_case):
    rows = people(alice=passlib("md5_crypt")(PASSWORD))
    rows[0]["email"] = "  Alice@Example.COM "
    settings = {"send_identifier": send_identifier} if send_identifier else {}
    connector = build_connector(app, hashes_table(write_csv(tmp_path / "u.csv", rows), **settings))
    if finds_lower_case:
        assert connector.verify(ALICE, PASSWORD).subject == "legacy-1"
    else:
        with pytest.raises(UserNotFound):
            connector.verify(ALICE, PASSWORD)
        assert connector.verify("Alice@Example.COM", PASSWORD).subject == "legacy-1"


# -- the file itself -----------------------------------------------------------------------------
def config_problem(app, table) -> str:
    with pytest.raises(ConfigError) as refused:
        build_connector(app, table)
    return str(refused.value)


def test_a_duplicate_identifier_stops_start_up_naming_both_lines(app, tmp_path):
    rows = people(alice="$1$x", bob="$1$y", dave="$1$z")
    rows[2]["email"] = "ALICE@example.com "  # the same person to a case-insensitive lookup
    problem = config_problem(app, hashes_table(write_csv(tmp_path / "u.csv", rows)))
    assert "connectors.legacy.path" in problem
    assert "line 4: duplicate identifier (first on line 2)" in problem


def test_a_duplicate_subject_stops_start_up(app, tmp_path):
    rows = people(alice="$1$x", bob="$1$y")
    rows[1]["id"] = rows[0]["id"]  # bob would sign in as alice's migrated user
    problem = config_problem(app, hashes_table(write_jsonl(tmp_path / "u.jsonl", rows)))
    assert "line 2: duplicate subject (first on line 1)" in problem


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("missing.csv", None, "cannot be read (No such file or directory)"),
    ("short.csv", "id,email,password_hash\n1,a@example.com,$1$x\n2,b@example.com\n",
     "line 3: 2 fields where the header has 3"),
    ("columns.csv", "id,mail,hash\n1,a@example.com,$1$x\n", "no column 'email', 'password_hash'"),
    ("quote.csv", 'id,email,password_hash\n1,"a@example.com"x,$1$x\n', "line 2:"),
    ("broken.jsonl", '{"id": 1, "email": "a@example.com"}\n{"id": 2,\n', "line 2: not JSON"),
    ("array.jsonl", '{"id": 1, "email": "a@example.com"}\n[1, 2]\n', "line 2: not a JSON object"),
    ("subject.jsonl", '{"email": "a@example.com", "password_hash": "$1$x"}\n', "line 1: no 'id'"),
    ("other.json", '{"accounts": []}', "neither a JSON array nor an object with a 'users' array"),
    ("latin1.csv", "id,email,password_hash\n1,j\xf6rg@example.com,$1$x\n".encode("latin-1"),
     "cannot be read"),
])
def test_a_missing_or_broken_file_stops_start_up_with_the_place(app, tmp_path, name, content, expected):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    problem = config_problem(app, hashes_table(path))
    assert str(path) in problem and expected in problem


def test_a_headerless_csv_takes_its_column_names_from_the_settings(app, tmp_path):
    # The shape of Firebase's CSV export (github.com/firebase/scrypt README), shortened.
    path = tmp_path / "firebase.csv"
    path.write_text(f"kYi4EvWQlQTKSfnJ3dRSP6IH3ed2,user1@test.com,false,{FIREBASE_HASH},{FIREBASE_SALT},"
                    "Test User 1\n")
    connector = build_connector(app, {
        "type": "hashes", "source": "csv", "path": str(path), "hash_field": "passwordHash",
        "csv_columns": ["localId", "email", "emailVerified", "passwordHash", "salt", "displayName"],
        "subject_field": "localId", "salt_field": "salt", "schemes": ["firebase_scrypt"], **FIREBASE})
    identity = connector.verify("user1@test.com", FIREBASE_PASSWORD)
    assert identity.subject == "kYi4EvWQlQTKSfnJ3dRSP6IH3ed2"
    assert identity.claims["displayName"] == "Test User 1"


def test_the_file_is_read_again_when_it_changes(app, tmp_path, caplog):
    path = write_csv(tmp_path / "users.csv", people(alice=passlib("md5_crypt")(PASSWORD)))
    connector = build_connector(app, hashes_table(path))
    with pytest.raises(UserNotFound):
        connector.verify("erin@example.com", PASSWORD)

    rows = people(alice=passlib("md5_crypt")(PASSWORD))
    rows.append({**rows[0], "id": "legacy-9", "email": "erin@example.com"})
    write_csv(path, rows)
    assert connector.verify("erin@example.com", PASSWORD).subject == "legacy-9"

    path.write_text("id,email\n")  # broken: users not yet migrated must wait, not be refused
    with pytest.raises(LegacyUnavailable) as broken:
        connector.verify(ALICE, PASSWORD)
    assert "no column 'password_hash'" in broken.value.reason

    write_csv(path, rows)
    assert connector.verify(ALICE, PASSWORD).subject == "legacy-1"

    path.unlink()  # the operator removed the export: nothing is served from memory any more
    with pytest.raises(LegacyUnavailable) as gone:
        connector.verify(ALICE, PASSWORD)
    assert "cannot be read" in gone.value.reason
    assert any(r.levelno == logging.WARNING and "unavailable" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("table", "expected"), [
    ({"schemes": ["firebase_scrypt"], "salt_field": "salt"}, "firebase_scrypt needs firebase_signer_key"),
    ({"schemes": ["firebase_scrypt"], **FIREBASE}, "firebase_scrypt needs salt_field"),
    ({**FIREBASE}, "firebase_* settings are set but firebase_scrypt is not in schemes"),
    ({"schemes": ["firebase_scrypt"], "salt_field": "salt", **FIREBASE, "firebase_signer_key": "not base64!"},
     "must be base64"),
    ({"schemes": ["salted_sha"], "salt_field": "salt"}, "describe it in salted_sha"),
    ({"salted_sha": {"algorithm": "sha256"}}, "salted_sha is set but not in schemes"),
    ({"salted_sha": {"algorithm": "rot13"}, "schemes": ["salted_sha"], "salt_field": "s"},
     "salted_sha.algorithm"),
    ({"schemes": ["bcrypt", "rot13"]}, "unknown hash format rot13"),
    ({"schemes": []}, "schemes"),
    ({"database_url": "sqlite:///x.db"}, "database_url: only for source = \"sql\""),
    ({"source": "sql", "database_url": "sqlite:///x.db", "query": "SELECT * FROM users WHERE email = 'x'"},
     "put :identifier where the identifier goes"),
    ({"source": "sql", "database_url": "sqlite:///x.db",
      "query": "SELECT * FROM users WHERE email = :identifier AND tenant = :tenant"},
     "unknown parameter :tenant"),
    ({"source": "sql", "database_url": "mysql://db/users", "query": "SELECT 1 WHERE :identifier"},
     "a sqlite:///... or postgresql://... URL is needed"),
    ({"source": "sql", "database_url": "sqlite:///x.db", "query": "SELECT :identifier"},
     "path: only for file sources"),
    ({"source": "xml"}, "connectors.legacy.source"),
    ({"csv_delimiter": ";;"}, "csv_delimiter"),
])
def test_settings_are_checked_at_start_up(app, export, table, expected):
    assert expected in config_problem(app, hashes_table(export, **table))


# -- SQL: SQLite ---------------------------------------------------------------------------------
QUERY = ("SELECT id, email, password_hash, first_name, last_name, is_active, created_at, avatar "
         "FROM users WHERE lower(email) = lower(:identifier)")


@pytest.fixture
def legacy_sqlite(tmp_path) -> Path:
    path = tmp_path / "legacy.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, password_hash TEXT, "
                           "first_name TEXT, last_name TEXT, is_active INTEGER, created_at TEXT, "
                           "avatar BLOB)")
        for number, row in enumerate(people(
                alice=passlib("phpass", rounds=8)(PASSWORD), bob=wordpress(PASSWORD),
                dave=passlib("phpass", rounds=8)(PASSWORD)), 1):
            connection.execute("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (
                number, row["email"].title(), row["password_hash"], row["first_name"], row["last_name"],
                int(row["is_active"]), "2019-05-06 07:08:09", b"\x89PNG"))
    connection.close()
    return path


def sqlite_table(path: Path, query: str = QUERY, **settings) -> dict:
    return {"type": "hashes", "source": "sql", "database_url": f"sqlite:///{path}", "query": query,
            "active_field": "is_active", "mapping": MAPPING, **settings}


class TestHashesSqliteContract(PasswordConnectorContract):
    @pytest.fixture
    def contract_case(self, app, legacy_sqlite):
        return ContractCase(
            connector=build_connector(app, sqlite_table(legacy_sqlite)),
            identifier=ALICE, password=PASSWORD, wrong_password=WRONG,
            unknown_identifier="nobody@example.com", expected_email=ALICE,
            outage=lambda: moved_away(legacy_sqlite),
        )


def test_sqlite_rows_become_claims(app, legacy_sqlite):
    connector = build_connector(app, sqlite_table(legacy_sqlite))
    identity = connector.verify("ALICE@example.com", PASSWORD)
    assert identity.subject == "1"
    assert identity.claims == {"id": 1, "email": "Alice@Example.Com", "first_name": "Alice",
                               "last_name": "Liddell", "is_active": 1, "created_at": "2019-05-06 07:08:09"}
    assert connector.verify(BOB, PASSWORD).subject == "2"  # WordPress $wp$
    with pytest.raises(AccountBlocked):
        connector.verify(DAVE, PASSWORD)


@pytest.mark.parametrize("identifier", ["x' OR '1'='1", "%", "alice@example.com' --"])
def test_the_identifier_is_bound_never_formatted_into_the_query(app, legacy_sqlite, identifier):
    connector = build_connector(app, sqlite_table(legacy_sqlite))
    with pytest.raises(UserNotFound):
        connector.verify(identifier, PASSWORD)


@pytest.mark.parametrize(("query", "expected"), [
    ("SELECT * FROM users WHERE :identifier = :identifier", "several rows for one identifier"),
    ("SELECT id, email FROM users WHERE email = :identifier COLLATE NOCASE", "no column 'password_hash'"),
    ("SELECT * FROM no_such_table WHERE email = :identifier", "no such table: no_such_table"),
    ("UPDATE users SET first_name = 'Mallory' WHERE email = :identifier COLLATE NOCASE RETURNING *",
     "readonly"),
    ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
     "SELECT * FROM users, (SELECT max(i) FROM n) WHERE email = :identifier", "took longer than 0.2 s"),
])
def test_a_query_that_cannot_answer_is_unavailable(app, legacy_sqlite, query, expected):
    connector = build_connector(app, sqlite_table(legacy_sqlite, query, read_timeout=0.2))
    with pytest.raises(LegacyUnavailable) as refused:
        connector.verify(ALICE, PASSWORD)
    assert expected in refused.value.reason
    with sqlite3.connect(legacy_sqlite) as connection:
        assert connection.execute("SELECT first_name FROM users WHERE id = 1").fetchone() == ("Alice",)
    connection.close()


def test_a_missing_database_file_is_unavailable_and_never_created(app, tmp_path):
    missing = tmp_path / "nowhere" / "legacy.db"
    connector = build_connector(app, sqlite_table(missing))  # a database may be down at start-up
    with pytest.raises(LegacyUnavailable) as refused:
        connector.verify(ALICE, PASSWORD)
    assert "unable to open database file" in refused.value.reason
    assert not missing.exists()


# -- SQL: PostgreSQL -----------------------------------------------------------------------------
class TcpRelay:
    """A loopback relay in front of PostgreSQL: cutting it is the database becoming unreachable."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._open: list[socket.socket] = []
        self.start()

    def start(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self._running = False
        self._listener.close()
        for sock in self._open:
            sock.close()
        self._open.clear()

    @contextmanager
    def cut(self):
        self.stop()
        try:
            yield
        finally:
            self.start()

    def _accept(self) -> None:
        listener = self._listener
        while self._running:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            upstream = socket.create_connection(self.target, timeout=5)
            upstream.settimeout(None)
            self._open += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


PG_PASSWORD = "pg-password-never-logged"


@pytest.fixture
def legacy_postgres():
    """A legacy user table in the tests' PostgreSQL database; its URL gets a password to keep secret."""
    url = postgres_url()
    reset_postgres(url)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE users (id uuid PRIMARY KEY, email text NOT NULL, password_hash text, "
            "first_name text, last_name text, is_active boolean NOT NULL, created_at timestamptz, "
            "balance numeric(10, 2), tags text[])")
        for number, row in enumerate(people(
                alice=django("Argon2PasswordHasher", time_cost=1, memory_cost=1024, parallelism=1)(PASSWORD),
                bob=passlib("sha512_crypt", rounds=1000)(PASSWORD),
                dave=django("BCryptSHA256PasswordHasher", rounds=4)(PASSWORD)), 1):
            connection.execute(
                "INSERT INTO users VALUES (%s, %s, %s, %s, %s, %s, '2020-01-02T03:04:05Z', 12.50, "
                "ARRAY['a', 'b'])",
                (f"00000000-0000-0000-0000-00000000000{number}", row["email"], row["password_hash"],
                 row["first_name"], row["last_name"], row["is_active"] == "1"))
    parts = urlsplit(url)
    if parts.username and not parts.password:  # trust authentication ignores it; the logs must too
        parts = parts._replace(netloc=f"{parts.username}:{PG_PASSWORD}@{parts.hostname}:{parts.port or 5432}")
    return urlunsplit(parts)


def postgres_table(url: str, query: str = QUERY.replace(", avatar", ""), **settings) -> dict:
    return {"type": "hashes", "source": "sql", "database_url": url, "query": query,
            "active_field": "is_active", "mapping": MAPPING, **settings}


@pytest.mark.postgres
class TestHashesPostgresContract(PasswordConnectorContract):
    @pytest.fixture
    def contract_case(self, app, legacy_postgres):
        parts = urlsplit(legacy_postgres)
        relay = TcpRelay(parts.hostname, parts.port or 5432)
        through_relay = parts._replace(netloc=parts.netloc.rsplit(":", 1)[0] + f":{relay.port}")
        yield ContractCase(
            connector=build_connector(app, postgres_table(urlunsplit(through_relay))),
            identifier=ALICE, password=PASSWORD, wrong_password=WRONG,
            unknown_identifier="nobody@example.com", expected_email=ALICE,
            outage=relay.cut, secrets=(PG_PASSWORD,),
        )
        relay.stop()


@pytest.mark.postgres
def test_postgres_rows_become_json_safe_claims(app, legacy_postgres):
    query = "SELECT * FROM users WHERE lower(email) = lower(:identifier)"
    connector = build_connector(app, postgres_table(legacy_postgres, query))
    identity = connector.verify(ALICE, PASSWORD)
    assert identity.subject == "00000000-0000-0000-0000-000000000001"
    assert identity.claims["created_at"].startswith("2020-01-02T03:04:05")
    claims = identity.claims
    assert (claims["balance"], claims["tags"], claims["is_active"]) == (12.5, ["a", "b"], True)
    assert json.loads(json.dumps(identity.to_context()))["claims"]["first_name"] == "Alice"
    assert connector.verify(BOB, PASSWORD).claims["last_name"] == "Dylan"  # SHA-512-crypt
    with pytest.raises(AccountBlocked):
        connector.verify(DAVE, PASSWORD)  # Django bcrypt_sha256, is_active false


@pytest.mark.postgres
def test_postgres_casts_and_percent_signs_survive_binding(app, legacy_postgres):
    query = ("SELECT id::text AS id, email, password_hash, first_name, is_active FROM users "
             "WHERE email LIKE '%@%' AND lower(email) = lower(:identifier::text) -- :not_a_parameter")
    connector = build_connector(app, postgres_table(legacy_postgres, query))
    assert connector.verify(ALICE, PASSWORD).subject.endswith("0001")
    for hostile in ("x' OR '1'='1", "%", "%(identifier)s"):
        with pytest.raises(UserNotFound):
            connector.verify(hostile, PASSWORD)


@pytest.mark.postgres
@pytest.mark.parametrize(("query", "expected"), [
    ("SELECT *, pg_sleep(2) FROM users WHERE email = :identifier", "took longer than 0.3 s"),
    ("UPDATE users SET first_name = 'Mallory' WHERE email = :identifier RETURNING *",
     "read-only transaction"),
])
def test_postgres_queries_are_bounded_and_read_only(app, legacy_postgres, query, expected):
    connector = build_connector(app, postgres_table(legacy_postgres, query, read_timeout=0.3))
    with pytest.raises(LegacyUnavailable) as refused:
        connector.verify(ALICE, PASSWORD)
    assert expected in refused.value.reason
    with psycopg.connect(legacy_postgres) as connection:
        assert connection.execute("SELECT first_name FROM users WHERE email = %s", (ALICE,)).fetchone() == (
            "Alice",)


# -- the whole journey ---------------------------------------------------------------------------
def stored_credential(app, email: str) -> tuple[User, LegacyLink, PasswordCredential]:
    with app.app_context(), db.connection_context():
        user = User.get(User.email == email)
        return (user, LegacyLink.get(LegacyLink.user == user),
                PasswordCredential.get(PasswordCredential.user == user))


def csv_source(tmp_path, alice_hash):
    path = write_csv(tmp_path / "users.csv", people(alice=alice_hash, bob=alice_hash))
    return hashes_table(path), path.unlink


def sqlite_source(tmp_path, alice_hash):
    path = tmp_path / "legacy.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE users (id TEXT, email TEXT, password_hash TEXT, first_name TEXT, "
                           "last_name TEXT, is_active TEXT, created_at TEXT, avatar BLOB)")
        for row in people(alice=alice_hash, bob=alice_hash):
            connection.execute("INSERT INTO users VALUES (:id, :email, :password_hash, :first_name, "
                               ":last_name, :is_active, NULL, NULL)", row)
    connection.close()
    return sqlite_table(path), path.unlink


def postgres_source(tmp_path, alice_hash):
    url = postgres_url()
    reset_postgres(url)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TABLE users (id text, email text, password_hash text, first_name text, "
                           "last_name text, is_active boolean)")
        for row in people(alice=alice_hash, bob=alice_hash):
            connection.execute("INSERT INTO users VALUES (%s, %s, %s, %s, %s, %s)", (
                row["id"], row["email"], row["password_hash"], row["first_name"], row["last_name"],
                row["is_active"] == "1"))

    def drop():
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("DROP TABLE users")

    query = "SELECT * FROM users WHERE lower(email) = lower(:identifier)"
    return postgres_table(url, query), drop


@pytest.mark.parametrize("make_source", [
    csv_source, sqlite_source, pytest.param(postgres_source, marks=pytest.mark.postgres)])
def test_first_sign_in_migrates_and_the_second_needs_no_legacy_source(make_app, tmp_path, make_source):
    legacy_hash = passlib("sha256_crypt", rounds=1000)(PASSWORD)
    table, remove_source = make_source(tmp_path, legacy_hash)
    app = make_app(DEPLOYMENT=deployment({"legacy": table}))

    SignIn(app.test_client()).tokens(ALICE, PASSWORD)
    user, link, credential = stored_credential(app, ALICE)
    assert (user.given_name, user.family_name) == ("Alice", "Liddell")
    assert (link.connector, link.subject) == ("legacy", "legacy-1")
    assert credential.hash.startswith("$argon2id$") and credential.hash != legacy_hash

    remove_source()
    walker = SignIn(app.test_client())  # bob never migrated: the legacy source is really gone
    assert UNAVAILABLE in page_text(walker.sign_in(BOB, PASSWORD))

    tokens = SignIn(app.test_client()).tokens(ALICE, PASSWORD)
    assert tokens["id_token"]
    assert stored_credential(app, ALICE)[2].hash == credential.hash
    assert count_users(app) == 1


def test_a_wrong_password_creates_no_user_and_counts_against_the_identifier(make_app, export):
    app = make_app(DEPLOYMENT=deployment({"legacy": hashes_table(export)}),
                   FAILED_SIGNINS_PER_IDENTIFIER="1 per 15 minutes")
    for identifier in (ALICE, "nobody@example.com"):
        response = SignIn(app.test_client()).sign_in(identifier, WRONG)
        assert response.status_code == 200 and WRONG_CREDENTIALS in page_text(response)
        assert retry_after(app, identifier) > 0
    assert count_users(app) == 0


def test_a_format_not_enabled_refuses_that_user_and_counts_nothing(make_app, export, caplog):
    table = hashes_table(export, schemes=["argon2"])
    app = make_app(DEPLOYMENT=deployment({"legacy": table}), FAILED_SIGNINS_PER_IDENTIFIER="1 per 15 minutes")
    for _ in range(2):
        response = SignIn(app.test_client()).sign_in(ALICE, PASSWORD)
        assert response.status_code == 200 and ACCOUNT_PROBLEM in page_text(response)
        assert UNAVAILABLE not in page_text(response)
    assert count_users(app) == 0
    assert retry_after(app, ALICE) == 0
    assert any(r.levelno == logging.ERROR and "hash format bcrypt not enabled" in r.getMessage()
               for r in caplog.records)

    # The limit itself works: a refusal by the same source is counted.
    wrong = SignIn(app.test_client()).sign_in("nobody@example.com", PASSWORD)
    assert WRONG_CREDENTIALS in page_text(wrong)
    assert retry_after(app, "nobody@example.com") > 0


def test_a_disabled_legacy_account_is_told_so_and_not_created(make_app, export):
    app = make_app(DEPLOYMENT=deployment({"legacy": hashes_table(export, active_field="is_active")}))
    response = SignIn(app.test_client()).sign_in(DAVE, PASSWORD)
    assert response.status_code == 200 and "Your account is disabled" in page_text(response)
    assert count_users(app) == 0


def test_unusable_hashes_of_some_users_never_open_the_breaker_for_everyone(app, tmp_path):
    rows = people(alice=passlib("md5_crypt")(PASSWORD), bob="$1$broken", dave=hexdigest("md5")(PASSWORD))
    path = write_csv(tmp_path / "users.csv", rows)
    connector = build_connector(app, hashes_table(path, breaker_failures=2))
    for _ in range(2):
        for identifier in (BOB, DAVE):  # malformed, and a format nobody enabled
            with pytest.raises(LegacyUnavailable):
                connector.check_password(identifier, PASSWORD)
    assert connector.guard.state == "closed"
    assert connector.check_password(ALICE, PASSWORD).subject == "legacy-1"

    with moved_away(path):  # the store itself failing is what the breaker is for
        for _ in range(2):
            with pytest.raises(LegacyUnavailable):
                connector.check_password(ALICE, PASSWORD)
    assert connector.guard.state == "open"
    with pytest.raises(LegacyUnavailable) as refused:
        connector.check_password(ALICE, PASSWORD)
    assert "circuit breaker open" in refused.value.reason


def test_a_csv_with_a_repeated_column_stops_start_up(app, tmp_path):
    path = tmp_path / "users.csv"
    path.write_text("id,email,password_hash,email\n1,a@example.com,$1$x,b@example.com\n")
    assert "column 'email' appears more than once" in config_problem(app, hashes_table(path))


# -- one user's unusable data is a refusal of its own, never "try again later" -------------------
def audit_events(app, event: str) -> list[dict]:
    with app.app_context(), db.connection_context():
        return [row.details for row in AuditEvent.select().where(AuditEvent.event == event)]


def fallback_app(make_app, tables: dict, order: list[str], **config):
    journeys = {"sign-in": {"steps": {"legacy": {"connectors": order}}}}
    return make_app(DEPLOYMENT=deployment(tables, journeys=journeys), **config)


@pytest.mark.parametrize(("stored", "reason"), [
    ("what is this", "hash format not recognised"),
    ("$2b$12$cut.short", "malformed bcrypt hash"),
])
def test_an_unusable_hash_refuses_that_user_with_a_reason_of_its_own(make_app, tmp_path, stored,
                                                                     reason):
    path = write_csv(tmp_path / "users.csv", people(
        alice=stored, bob=bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()))
    app = make_app(DEPLOYMENT=deployment({"legacy": hashes_table(path, breaker_failures=2)}),
                   FAILED_SIGNINS_PER_IDENTIFIER="2 per 15 minutes")
    for password in (PASSWORD, WRONG, PASSWORD):
        response = SignIn(app.test_client()).sign_in(ALICE, password)
        page = page_text(response)
        assert response.status_code == 200 and ACCOUNT_PROBLEM in page
        assert "contact support" in page and UNAVAILABLE not in page and WRONG_CREDENTIALS not in page
    [first, *_] = audit_events(app, "legacy.user_data_invalid")
    assert first["reason"].startswith(reason) and stored not in json.dumps(first)
    assert retry_after(app, ALICE) == 0  # no password was checked: nothing counted
    assert app.extensions["ferry.connectors"]["legacy"].guard.state == "closed"
    assert count_users(app) == 0
    SignIn(app.test_client()).tokens(BOB, PASSWORD)  # everyone else migrates as ever


def test_several_rows_for_one_identifier_refuse_that_user_not_everyone(make_app, legacy_sqlite):
    with sqlite3.connect(legacy_sqlite) as connection:
        connection.execute("INSERT INTO users (email, password_hash, first_name, is_active) "
                           "VALUES ('alice@example.com', '$1$x', 'Other', 1)")
    connection.close()
    app = make_app(DEPLOYMENT=deployment({"legacy": sqlite_table(legacy_sqlite, breaker_failures=2)}))
    for _ in range(3):
        assert ACCOUNT_PROBLEM in page_text(SignIn(app.test_client()).sign_in(ALICE, PASSWORD))
    assert [e["reason"] for e in audit_events(app, "legacy.user_data_invalid")] == [
        "the query returned several rows for one identifier"] * 3
    assert app.extensions["ferry.connectors"]["legacy"].guard.state == "closed"
    SignIn(app.test_client()).tokens(BOB, PASSWORD)


def test_a_profile_the_mapping_cannot_read_is_refused_after_the_right_password(make_app, tmp_path):
    path = write_jsonl(tmp_path / "users.jsonl", [
        {"id": "u1", "email": ALICE, "password_hash": passlib("md5_crypt")(PASSWORD),
         "first_name": ["Alice", "Pleasance"]},
        {"id": "u2", "email": BOB, "password_hash": passlib("md5_crypt")(PASSWORD),
         "first_name": "B" * 201}])
    app = make_app(DEPLOYMENT=deployment({"legacy": hashes_table(path)}))
    # A wrong password learns nothing about the record.
    assert WRONG_CREDENTIALS in page_text(SignIn(app.test_client()).sign_in(ALICE, WRONG))
    for who in (ALICE, BOB):
        assert ACCOUNT_PROBLEM in page_text(SignIn(app.test_client()).sign_in(who, PASSWORD))
    assert [e["reason"] for e in audit_events(app, "legacy.user_data_invalid")] == [
        "profile: given_name is a list, not text",
        "profile: given_name is longer than 200 characters"]
    assert count_users(app) == 0


def two_sources(tmp_path, alice_at_a: str | None, alice_at_b: str | None) -> tuple[dict, Path]:
    """Sources ``a`` and ``b``; alice's hash at each (None: not there). ``b``'s file is returned."""
    def source(name: str, value: str | None) -> Path:
        rows = [row for row in people(alice=value or "", bob=passlib("md5_crypt")(PASSWORD))
                if value is not None or row["email"] != ALICE]
        return write_csv(tmp_path / f"{name}.csv", rows)

    b = source("b", alice_at_b)
    return {"a": hashes_table(source("a", alice_at_a)), "b": hashes_table(b)}, b


PASSWORD_FOR_B = passlib("md5_crypt")("the password b has")


@pytest.mark.parametrize("order", [["a", "b"], ["b", "a"]])
def test_a_wrong_password_at_one_source_and_an_outage_at_another_says_we_could_not_check(
        make_app, tmp_path, order):
    tables, b_file = two_sources(tmp_path, passlib("md5_crypt")(PASSWORD), PASSWORD_FOR_B)
    app = fallback_app(make_app, tables, order, FAILED_SIGNINS_PER_IDENTIFIER="1 per 15 minutes")
    with moved_away(b_file):  # source b is down: alice's password may be the one it has
        for _ in range(3):
            page = page_text(SignIn(app.test_client()).sign_in(ALICE, "the password b has"))
            assert UNAVAILABLE in page and WRONG_CREDENTIALS not in page
        assert retry_after(app, ALICE) == 0
    # With b back, the same password is b's, and alice migrates from there.
    SignIn(app.test_client()).tokens(ALICE, "the password b has")
    with app.app_context(), db.connection_context():
        assert LegacyLink.get().connector == "b"


def test_unusable_data_at_one_source_and_a_wrong_password_at_another(make_app, tmp_path):
    tables, _b = two_sources(tmp_path, "what is this", passlib("md5_crypt")(PASSWORD))
    app = fallback_app(make_app, tables, ["a", "b"], FAILED_SIGNINS_PER_IDENTIFIER="1 per 15 minutes")
    page = page_text(SignIn(app.test_client()).sign_in(ALICE, WRONG))
    assert ACCOUNT_PROBLEM in page and WRONG_CREDENTIALS not in page
    assert retry_after(app, ALICE) > 0  # b did check the password, and refused it
    # The right password at b migrates alice from b: a's unusable record is no obstacle.
    app2 = fallback_app(make_app, tables, ["a", "b"])
    SignIn(app2.test_client()).tokens(ALICE, PASSWORD)


def test_unusable_data_at_one_source_and_an_outage_at_another_is_an_outage(make_app, tmp_path):
    tables, b_file = two_sources(tmp_path, "what is this", passlib("md5_crypt")(PASSWORD))
    app = fallback_app(make_app, tables, ["a", "b"])
    with moved_away(b_file):
        assert UNAVAILABLE in page_text(SignIn(app.test_client()).sign_in(ALICE, PASSWORD))
    assert retry_after(app, ALICE) == 0


def test_not_found_at_one_source_and_wrong_at_another_is_a_wrong_password(make_app, tmp_path):
    tables, _b = two_sources(tmp_path, None, passlib("md5_crypt")(PASSWORD))
    app = fallback_app(make_app, tables, ["a", "b"], FAILED_SIGNINS_PER_IDENTIFIER="1 per 15 minutes")
    assert WRONG_CREDENTIALS in page_text(SignIn(app.test_client()).sign_in(ALICE, WRONG))
    assert retry_after(app, ALICE) > 0
    assert audit_events(app, "legacy.not_found") == [{}]
