"""Provisioning is atomic and idempotent: one person, one user, whatever the timing.

Runs on SQLite and on PostgreSQL (``database_url`` is parametrised).
"""

from __future__ import annotations

import threading

import pytest

from connectors import ExternalIdentity
from models import LegacyLink, PasswordCredential, User, db
from tests.conftest import SignIn, deployment, ropc_connector
from users.mapping import DEFAULT_MAPPING
from users.provisioning import provision

CLAIMS = {"sub": "42", "email": "Zoe@Example.com", "given_name": "Zoe", "email_verified": True}


def run_together(count: int, work) -> list:
    """Start ``count`` threads that call ``work()`` at the same instant; return results."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work()
        except Exception as error:  # noqa: BLE001 - the test asserts on it
            results[index] = error

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_first_provision_creates_user_link_and_password(make_app, database_url):
    app = make_app(database_url)
    with app.app_context(), db.connection_context():
        result = provision(ExternalIdentity("legacy", "42", CLAIMS), DEFAULT_MAPPING, "phc-hash")
        assert result.outcome == "created"
        user = User.get()
        assert (user.email, user.given_name, user.email_verified) == ("zoe@example.com", "Zoe", True)
        assert LegacyLink.get().subject == "42"
        assert PasswordCredential.get().source == "legacy:legacy"
        again = provision(ExternalIdentity("legacy", "42", {**CLAIMS, "given_name": "Zoë"}),
                          DEFAULT_MAPPING, None)
        assert again.outcome == "linked" and again.user.id == user.id
        assert User.get().given_name == "Zoë"


def test_an_email_owned_by_another_user_is_not_taken_over(make_app, database_url):
    app = make_app(database_url)
    with app.app_context(), db.connection_context():
        User.create(email="zoe@example.com")
        result = provision(ExternalIdentity("legacy", "42", CLAIMS), DEFAULT_MAPPING, "phc")
        assert result.outcome == "conflict"
        assert LegacyLink.select().count() == 0 and PasswordCredential.select().count() == 0


def test_a_phone_already_owned_by_another_user_is_left_out_not_a_500(make_app, database_url):
    """A shared line (one family, one number) in the legacy data: the user is created without it."""
    app = make_app(database_url)
    mapping = {**DEFAULT_MAPPING, "phone": "phone_number", "phone_verified": "phone_number_verified"}
    claims = {**CLAIMS, "phone_number": "+447700900123", "phone_number_verified": True}
    with app.app_context(), db.connection_context():
        User.create(email="dad@example.com", phone="+447700900123", phone_verified=True)
        result = provision(ExternalIdentity("legacy", "42", claims), mapping, "phc")
        assert result.outcome == "created"
        created = User.get(User.email == "zoe@example.com")
        assert (created.phone, created.phone_verified) == (None, False)
        assert User.get(User.email == "dad@example.com").phone == "+447700900123"


def test_simultaneous_first_sign_ins_sharing_a_phone_create_both_users(make_app, database_url):
    app = make_app(database_url)
    mapping = {**DEFAULT_MAPPING, "phone": "phone_number"}

    def work(index):
        claims = {**CLAIMS, "sub": str(index), "email": f"kid{index}@example.com",
                  "phone_number": "+447700900123"}
        with app.app_context(), db.connection_context():
            return provision(ExternalIdentity("legacy", str(index), claims), mapping, "phc").outcome

    counter = iter(range(4))
    outcomes = run_together(4, lambda: work(next(counter)))
    assert outcomes == ["created"] * 4, outcomes
    with app.app_context(), db.connection_context():
        assert User.select().count() == 4
        assert User.select().where(User.phone == "+447700900123").count() == 1


def test_a_username_owned_by_another_user_is_a_conflict(make_app, database_url):
    app = make_app(database_url)
    mapping = {**DEFAULT_MAPPING, "username": "preferred_username"}
    with app.app_context(), db.connection_context():
        User.create(email="first@example.com", username="zoe")
        result = provision(ExternalIdentity("legacy", "42", {**CLAIMS, "preferred_username": "zoe"}),
                           mapping, "phc")
        assert result.outcome == "conflict"
        assert User.select().count() == 1 and LegacyLink.select().count() == 0


def test_a_verified_address_stays_verified_when_the_legacy_idp_says_false(make_app, database_url):
    """Ferry proved the address (a code); a later password sign-in's claims do not undo it."""
    app = make_app(database_url)
    with app.app_context(), db.connection_context():
        provision(ExternalIdentity("legacy", "42", CLAIMS), DEFAULT_MAPPING, "phc")
        unverified = {**CLAIMS, "email_verified": False, "given_name": "Zoë"}
        assert provision(ExternalIdentity("legacy", "42", unverified), DEFAULT_MAPPING).outcome == "linked"
        user = User.get()
        assert (user.email_verified, user.given_name) == (True, "Zoë")


def test_simultaneous_provisioning_creates_one_user(make_app, database_url):
    app = make_app(database_url)
    identity = ExternalIdentity("legacy", "42", CLAIMS)

    def work():
        with app.app_context(), db.connection_context():
            return provision(identity, DEFAULT_MAPPING, "phc").outcome

    outcomes = run_together(8, work)
    assert sorted(outcomes) == ["created"] + ["linked"] * 7, outcomes
    with app.app_context(), db.connection_context():
        assert User.select().count() == 1 and LegacyLink.select().count() == 1
        assert PasswordCredential.select().count() == 1


@pytest.mark.slow
def test_two_first_sign_ins_at_once_through_the_real_legacy_idp(
    make_app, database_url, password_grant_server
):
    if not password_grant_server.running:
        password_grant_server.start()
    app = make_app(database_url,
                   DEPLOYMENT=deployment({"legacy": ropc_connector(password_grant_server)}))
    walkers = [SignIn(app.test_client()) for _ in range(4)]
    for walker in walkers:
        walker.start()
    iterator = iter(walkers)
    lock = threading.Lock()

    def work():
        with lock:
            walker = next(iterator)
        response = walker.post(identifier="alice@example.com", password="wonderland-1865")
        return walker, response

    results = run_together(len(walkers), work)
    for walker, response in results:
        assert response.status_code == 303, response.get_data(as_text=True)[:400]
        assert walker.exchange(walker.code_from(response)).status_code == 200
    with app.app_context(), db.connection_context():
        assert User.select().where(User.email == "alice@example.com").count() == 1
        assert LegacyLink.select().count() == 1
