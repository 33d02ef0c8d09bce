"""The user schema's rules at provisioning: a custom attribute declared ``unique`` (or an
``identifier``) never belongs to two users, even when two first sign-ins race; one declared
``required`` keeps a legacy user without it from being created, never a migrated user from
signing in; the portal's search finds users by a custom identifier.

Runs on SQLite and on PostgreSQL (``database_url`` is parametrised).
"""

from __future__ import annotations

import itertools

from connectors import ExternalIdentity
from journeys.steps.legacy_password import profile_problem
from models import LegacyLink, UniqueAttribute, User, db
from tests.conftest import deployment
from tests.users.test_provisioning import run_together
from users import admin_ops
from users.mapping import DEFAULT_MAPPING
from users.provisioning import provision

SCHEMA = {"attributes": {
    "employee_id": {"type": "string", "identifier": True, "required": True},
    "badge": {"type": "integer", "unique": True},
}}
MAPPING = {**DEFAULT_MAPPING, "employee_id": "employee_id", "badge": "badge"}


def schema_app(make_app, database_url):
    return make_app(database_url, DEPLOYMENT=deployment(schema=SCHEMA))


def person(subject: str, email: str, **claims) -> ExternalIdentity:
    return ExternalIdentity("legacy", subject, {"sub": subject, "email": email,
                                                "given_name": "Pat", **claims})


def test_a_unique_value_of_another_user_is_a_conflict_and_creates_nothing(make_app, database_url):
    app = schema_app(make_app, database_url)
    with app.test_request_context(), db.connection_context():
        first = provision(person("1", "one@example.com", employee_id="E-42", badge=7), MAPPING)
        assert first.outcome == "created"
        second = provision(person("2", "two@example.com", employee_id="E-42"), MAPPING)
        assert (second.outcome, second.user) == ("conflict", None)
        third = provision(person("3", "three@example.com", employee_id="E-43", badge=7), MAPPING)
        assert third.outcome == "conflict"  # the badge, an integer, is unique too
        assert User.select().count() == 1 and LegacyLink.select().count() == 1
        assert {(row.name, row.value) for row in UniqueAttribute.select()} == {
            ("employee_id", "E-42"), ("badge", "7")}


def test_a_migrated_user_whose_value_collides_later_still_signs_in(make_app, database_url):
    app = schema_app(make_app, database_url)
    with app.test_request_context(), db.connection_context():
        provision(person("1", "one@example.com", employee_id="E-1"), MAPPING)
        provision(person("2", "two@example.com", employee_id="E-2"), MAPPING)
        again = provision(person("2", "two@example.com", employee_id="E-1", given_name="Al"),
                          MAPPING)
        assert again.outcome == "linked" and again.user.given_name == "Al"
        assert again.user.attributes["employee_id"] == "E-2"  # kept; the operator is told
        moved = provision(person("1", "one@example.com", employee_id="E-9"), MAPPING)
        assert moved.outcome == "linked"
        assert UniqueAttribute.get(UniqueAttribute.user == moved.user.id).value == "E-9"


def test_two_first_sign_ins_racing_for_one_value_leave_one_owner(make_app, database_url):
    app = schema_app(make_app, database_url)
    numbers = itertools.count()

    def work():
        number = next(numbers)
        with app.test_request_context(), db.connection_context():
            return provision(person(f"s{number}", f"p{number}@example.com", employee_id="E-7"),
                             MAPPING).outcome

    outcomes = run_together(6, work)
    assert sorted(outcomes) == ["conflict"] * 5 + ["created"], outcomes
    with app.app_context(), db.connection_context():
        assert User.select().count() == 1
        assert UniqueAttribute.select().where(UniqueAttribute.value == "E-7").count() == 1


def test_a_required_attribute_keeps_a_new_user_out_but_never_a_migrated_one(make_app,
                                                                             database_url):
    app = schema_app(make_app, database_url)
    with app.test_request_context(), db.connection_context():
        claims = {"sub": "9", "email": "nine@example.com", "given_name": "Nine"}
        problem = profile_problem("9", claims, MAPPING, "legacy")
        assert problem == "profile: employee_id required by the user schema, but absent"
        assert profile_problem("9", {**claims, "employee_id": "E-9"}, MAPPING, "legacy") is None
        provision(person("9", "nine@example.com", employee_id="E-9"), MAPPING)
        assert profile_problem("9", claims, MAPPING, "legacy") is None  # already migrated


def test_the_users_search_finds_a_custom_identifier_but_not_a_plain_unique(make_app,
                                                                           database_url):
    app = schema_app(make_app, database_url)
    with app.test_request_context(), db.connection_context():
        provision(person("1", "one@example.com", employee_id="E-42", badge=7), MAPPING)
        provision(person("2", "two@example.com", employee_id="E-77"), MAPPING)
        found, more = admin_ops.search("E-42")
        assert [user.email for user in found] == ["one@example.com"] and not more
        assert admin_ops.search("7")[0] == []  # badge is unique, but no identifier
