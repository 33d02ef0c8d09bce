"""The ``hashes`` connector's hash formats, each checked with a hash made by the software legacy
systems use (bcrypt, argon2-cffi, libpass (passlib), Django's ``make_password``, OpenLDAP's
``slappasswd``, ``hashlib``; Firebase's modified scrypt and WordPress 6.8's ``$wp$`` format against
published vectors), and what the legacy data can get wrong: a format nobody enabled or a malformed
hash is unavailable, never a wrong password; disabled accounts, users without a password, lookup and
identifiers normalised like Ferry's."""

from __future__ import annotations

import base64
import logging

import bcrypt
import pytest

from connectors import AccountBlocked, InvalidCredentials, LegacyUnavailable, UserNotFound
from connectors.hashes.schemes import AUTO_DETECTED, FORMATS, Stored
from tests.connectors.contract import build_connector
from tests.connectors.hashes.legacy import (
    ALICE,
    BOB,
    DAVE,
    FORMAT_CASES,
    PASSWORD,
    WRONG,
    hashes_table,
    hexdigest,
    passlib,
    people,
    write_csv,
    write_jsonl,
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
