"""A migrating sign-in at a remote legacy IdP spends one argon2id run, like every other attempt.

``journeys/steps/_attempt.py``: every password attempt costs one hash check's worth of work.
When the remote legacy IdP accepts the password, Ferry hashes it for the new user, and that hash
is the attempt's one check: no decoy verification follows it (it did, costing a sign-in that
migrates two argon2id runs). A refused password still gets its decoy.
"""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from models import PasswordCredential, User, db
from tests.conftest import SignIn


@pytest.fixture
def argon2_runs(monkeypatch):
    """Every argon2id verification and hash made through argon2-cffi, in order."""
    runs: list[str] = []
    verify, hash_ = PasswordHasher.verify, PasswordHasher.hash

    def counting_verify(self, phc, password):
        runs.append("verify")
        return verify(self, phc, password)

    def counting_hash(self, password, **kwargs):
        runs.append("hash")
        return hash_(self, password, **kwargs)

    monkeypatch.setattr(PasswordHasher, "verify", counting_verify)
    monkeypatch.setattr(PasswordHasher, "hash", counting_hash)
    return runs


def test_a_migration_hashes_once_and_spends_no_decoy(legacy_app, password_grant_server,
                                                     argon2_runs):
    browser = legacy_app.test_client()

    sign_in = SignIn(browser)
    page = sign_in.start()
    assert page.status_code == 200
    argon2_runs.clear()
    password = password_grant_server.users["alice@example.com"]
    response = sign_in.post(identifier="alice@example.com", password=password)
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    assert argon2_runs == ["hash"]  # the new credential's hash; no decoy verify after it
    with legacy_app.app_context(), db.connection_context():
        user = User.get(User.email == "alice@example.com")
        stored = PasswordCredential.get(PasswordCredential.user == user)
        assert PasswordHasher().verify(stored.hash, password)


def test_a_refused_password_still_spends_its_decoy(legacy_app, argon2_runs):

    sign_in = SignIn(legacy_app.test_client())
    page = sign_in.start()
    assert page.status_code == 200
    argon2_runs.clear()
    response = sign_in.post(identifier="alice@example.com", password="not her password")
    assert response.status_code == 200
    assert argon2_runs == ["verify"]  # the decoy: the same work as checking a local hash
    with legacy_app.app_context(), db.connection_context():
        assert not User.select().where(User.email == "alice@example.com").exists()
