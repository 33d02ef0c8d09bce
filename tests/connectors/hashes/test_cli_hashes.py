"""``ferry connector-test`` against a ``hashes`` export: it names the format of the user's stored
hash and, when Ferry refuses that user's record, why; never the hash, never the password."""

from __future__ import annotations

import json

import pytest

from tests.conftest import deployment
from tests.connectors.hashes.legacy import ALICE, PASSWORD, WRONG, hashes_table, write_jsonl
from tests.connectors.hashes.test_hash_crypt import RECORDED


def run(make_app, tmp_path, stored: str, password: str, **settings):
    path = write_jsonl(tmp_path / "users.jsonl", [
        {"id": "u1", "email": ALICE, "password_hash": stored, "first_name": "Alice"}])
    app = make_app(DEPLOYMENT=deployment({"legacy": hashes_table(path, **settings)}))
    result = app.test_cli_runner().invoke(args=["ferry", "connector-test", "legacy", "Alice@Example.com"],
                                          input=password + "\n")
    assert stored not in result.output and password not in result.output
    return result


def test_a_good_password_names_the_scheme_and_prints_the_profile(make_app, tmp_path):
    result = run(make_app, tmp_path, RECORDED["yescrypt"], PASSWORD)
    assert result.exit_code == 0, result.output
    assert "stored hash: yescrypt" in result.stderr
    assert json.loads(result.stdout)["profile"]["email"] == ALICE


def test_a_wrong_password_names_the_scheme_too(make_app, tmp_path):
    result = run(make_app, tmp_path, RECORDED["scrypt_crypt"], WRONG)
    assert result.exit_code == 1
    assert "stored hash: scrypt_crypt" in result.stderr and "wrong credentials" in result.stderr


@pytest.mark.parametrize(("stored", "settings", "expected"), [
    pytest.param(RECORDED["bsdi_crypt"], {}, [
        "stored hash: bsdi_crypt", "refused: user data invalid: hash format bsdi_crypt not enabled"],
        id="not-enabled"),
    pytest.param("$y$jHT" + RECORDED["yescrypt"][len("$y$j9T"):], {},
                 ["stored hash: yescrypt", "refused: user data invalid: malformed yescrypt hash: cost above"],
                 id="cost"),
    pytest.param(RECORDED["yescrypt"][:-4], {},
                 ["stored hash: yescrypt", "refused: user data invalid: malformed yescrypt hash: truncated"],
                 id="truncated"),
    pytest.param("what is this", {}, ["refused: user data invalid: hash format not recognised"],
                 id="unrecognised"),
])
def test_a_record_ferry_refuses_says_why_and_exits_1(make_app, tmp_path, stored, settings, expected):
    result = run(make_app, tmp_path, stored, PASSWORD, **settings)
    assert result.exit_code == 1
    for line in expected:
        assert line in result.stderr
    assert "unavailable" not in result.stderr
