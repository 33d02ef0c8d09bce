"""The user schema as a typed model (users/schema.py): what a ``[schema]`` table may say, every
problem named at its place, and what a mapped profile breaks, per attribute."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from settings.errors import pydantic_problems
from users.mapping import STANDARD_ATTRIBUTES
from users.schema import STANDARD, UserSchema, check_profile, fits, load


def problems(table: dict) -> list[str]:
    with pytest.raises(ValidationError) as raised:
        load(table)
    return pydantic_problems(raised.value, "schema")


def test_the_default_schema_is_the_standard_attributes():
    schema = load(None)
    assert tuple(schema.all()) == STANDARD_ATTRIBUTES == tuple(STANDARD)
    assert schema.identifiers() == ["email", "username"]
    assert schema.type_of("email_verified") == "boolean" and schema.type_of("nope") is None
    assert schema.table() == {}


def test_custom_attributes_and_identifiers():
    schema = load({"required": ["given_name"], "attributes": {
        "employee_id": {"identifier": True, "description": "HR number"},
        "born": {"type": "date", "required": True},
        "floor": {"type": "integer", "unique": True}}})
    attributes = schema.all()
    assert attributes["employee_id"].unique and attributes["employee_id"].type == "string"
    assert attributes["given_name"].required and not attributes["family_name"].required
    assert schema.identifiers() == ["email", "username", "employee_id"]
    assert load(schema.table()) == schema  # what the store keeps reads back the same


@pytest.mark.parametrize(("table", "told"), [
    ({"attributes": {"email": {}}}, "schema.attributes.email.[key]: email is a standard attribute"),
    ({"attributes": {"Emp-Id": {}}}, "schema.attributes.Emp-Id.[key]: Emp-Id: lower-case letters"),
    ({"attributes": {"x": {"type": "colour"}}}, "schema.attributes.x.type: Input should be"),
    ({"attributes": {"x": {"required": "often"}}}, "schema.attributes.x.required:"),
    ({"attributes": {"x": {"colour": "red"}}}, "schema.attributes.x.colour: unknown setting"),
    ({"attributes": {"x": {"identifier": True, "type": "integer"}}},
     "schema.attributes.x: an identifier is a string"),
    ({"attributes": {"x": {"identifier": True, "unique": False}}},
     "schema.attributes.x: an identifier is unique"),
    ({"attributes": {"x": {"max_length": 9}}}, "max_length is for standard attributes"),
    ({"required": ["employee_id"]}, "required: employee_id is not a standard attribute"),
    ({"fields": {}}, "schema.fields: unknown setting"),
])
def test_every_problem_names_its_place(table, told):
    assert any(told in problem for problem in problems(table)), problems(table)


@pytest.mark.parametrize(("kind", "good", "bad"), [
    ("string", "x", 1), ("boolean", False, "false"), ("integer", 3, True), ("integer", -1, 1.5),
    ("date", "2024-02-29", "2023-02-29"), ("date", "1815-12-10", 1815),
])
def test_types(kind, good, bad):
    assert fits(kind, good) and not fits(kind, bad)


def test_check_profile_says_what_is_wrong_per_attribute():
    schema = load({"required": ["given_name"], "attributes": {
        "born": {"type": "date"}, "vip": {"type": "boolean"}, "staff": {"required": True}}})
    mapping = {"given_name": "first", "staff": "emp", "born": "dob", "vip": "vip", "x": "x",
               "locale": "lang"}
    found = check_profile(schema, {"born": 1815, "vip": "yes", "x": 1, "locale": "x" * 36},
                          mapping, {"staff": "int: a str that is not a whole number"})
    assert found == {
        "born": "int where the schema wants date: add |date",
        "vip": "str where the schema wants boolean: add |bool",
        "x": "not declared in the user schema: declare it, or it is kept untyped",
        "locale": "longer than 35 characters",
        "given_name": "required, but absent: 'first' is not in the legacy profile",
        "staff": "required, but absent: int: a str that is not a whole number",
    }
    assert check_profile(schema, {"born": "1815-12-10", "vip": True, "given_name": "Ada",
                                  "staff": "s"}, {}) == {}
    assert check_profile(schema, {}, {})["staff"] == "required, but absent: the mapping does not set it"


def test_a_list_for_text_suggests_join():
    assert check_profile(UserSchema(), {"name": ["a", "b"]}, {}) == {
        "name": "a list where the schema wants string: add |join(,)"}
