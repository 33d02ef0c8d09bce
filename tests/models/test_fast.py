"""models.fast reads and writes exactly what peewee would, on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from datetime import timedelta

import peewee
import pytest

from models import AuditEvent, JourneyRun, User, UserSession, db, fast, utcnow


@pytest.fixture
def ready(make_app, database_url):
    app = make_app(database_url=database_url)
    with app.app_context(), db.connection_context():
        yield


def test_get_returns_the_row_peewee_returns_with_its_types(ready):
    user = User.create(email="alice@example.com", given_name="Alice", email_verified=True,
                       attributes={"team": ["blue", "green"]})
    fetched = fast.get(User, id=user.id)
    by_peewee = User.get_by_id(user.id)
    assert fetched.__data__ == by_peewee.__data__
    assert fetched.email_verified is True and fetched.attributes == {"team": ["blue", "green"]}
    assert fetched.created_at == by_peewee.created_at and fetched.created_at.tzinfo is None
    assert not fetched.is_dirty()
    assert fast.get(User, email="bob@example.com") is None
    assert fast.get(User, email="alice@example.com", status="disabled") is None


def test_a_foreign_key_reads_as_peewee_reads_it(ready):
    user = User.create(email="alice@example.com")
    UserSession.create(id_hash="h" * 64, user=user, expires_at=utcnow(), auth_time=1, amr=["pwd"])
    session = fast.get(UserSession, id_hash="h" * 64)
    assert session.user_id == user.id and session.user.email == "alice@example.com"
    assert session.amr == ["pwd"] and session.ended_at is None


def test_exists(ready):
    user = User.create(email="alice@example.com")
    assert fast.exists(User, id=user.id)
    assert not fast.exists(User, id="someone-else")


def test_insert_applies_defaults_and_reads_back_an_auto_id(ready):
    event = fast.insert(AuditEvent, event="signin.succeeded", user_id="u1", details={"a": 1})
    stored = AuditEvent.get_by_id(event.id)
    assert isinstance(event.id, int) and stored.event == "signin.succeeded"
    assert stored.details == {"a": 1} and stored.at == event.at
    second = fast.insert(AuditEvent, event="signin.failed")
    assert second.id > event.id and AuditEvent.get_by_id(second.id).details == {}
    user = fast.insert(User, email="carol@example.com")  # a primary key with a default
    assert User.get_by_id(user.id).email == "carol@example.com" and not user.is_dirty()


def test_insert_keeps_constraints(ready):
    fast.insert(User, email="alice@example.com")
    with pytest.raises(peewee.IntegrityError), db.atomic():
        fast.insert(User, email="alice@example.com")
    assert User.select().count() == 1


def test_update_sets_and_increments_only_the_matching_rows(ready):
    now = utcnow()
    for name in ("a", "b"):
        JourneyRun.create(id_hash=name, journey="sign-in", step="collect",
                          expires_at=now + timedelta(minutes=5))
    later = now + timedelta(seconds=3)
    changed = fast.update(JourneyRun, {"step": "password", "version": fast.Increment(),
                                       "context": {"k": "v"}, "updated_at": later},
                          id_hash="a", version=0)
    assert changed == 1
    run = JourneyRun.get_by_id("a")
    assert (run.step, run.version, run.context, run.updated_at) == ("password", 1, {"k": "v"}, later)
    assert JourneyRun.get_by_id("b").version == 0
    assert fast.update(JourneyRun, {"version": fast.Increment()}, id_hash="a", version=0) == 0


def test_delete(ready):
    JourneyRun.create(id_hash="a", journey="j", step="s", expires_at=utcnow())
    assert fast.delete(JourneyRun, id_hash="a") == 1
    assert fast.delete(JourneyRun, id_hash="a") == 0
    assert JourneyRun.select().count() == 0


def test_a_none_key_or_an_unknown_field_is_refused(ready):
    with pytest.raises(ValueError):
        fast.get(User, email=None)  # "= NULL" would silently match nothing
    with pytest.raises(AttributeError):
        fast.get(User, nickname="x")


def test_claim_wins_a_row_once_and_returns_it_as_stored(ready):
    user = User.create(email="alice@example.com")
    now = utcnow()
    UserSession.create(id_hash="a" * 64, user=user, expires_at=now + timedelta(minutes=5),
                       auth_time=1, amr=["pwd"])
    UserSession.create(id_hash="b" * 64, user=user, expires_at=now - timedelta(minutes=5),
                       auth_time=1, amr=["pwd"])
    claimed = fast.claim(UserSession, {"ended_at": now}, unset="ended_at",
                         later=("expires_at", now), id_hash="a" * 64)
    assert claimed.__data__ == UserSession.get_by_id("a" * 64).__data__
    assert claimed.ended_at == now and claimed.amr == ["pwd"] and not claimed.is_dirty()
    again = fast.claim(UserSession, {"ended_at": now}, unset="ended_at",
                       later=("expires_at", now), id_hash="a" * 64)
    assert again is None  # already set: nobody wins it twice
    expired = fast.claim(UserSession, {"ended_at": now}, unset="ended_at",
                         later=("expires_at", now), id_hash="b" * 64)
    assert expired is None and UserSession.get_by_id("b" * 64).ended_at is None


def test_a_statement_is_built_once_per_database_type(ready):
    built = []

    def build(database, name):
        built.append(database)
        return f"SELECT COUNT(*) FROM {name(User)} WHERE {name(User, 'email')} = {database.param}"  # noqa: S608

    User.create(email="alice@example.com")
    key = ("count by email", secrets.token_hex(8))
    for _ in range(3):
        database, sql = fast.statement(key, build)
        assert database.execute_sql(sql, ("alice@example.com",)).fetchone()[0] == 1
    assert len(built) == 1
