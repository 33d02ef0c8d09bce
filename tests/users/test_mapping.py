"""The mapping from legacy claims to Ferry's attributes: every transform, every way a spec can
be wrong (each told with where), the safe subset of regular expressions, and what a sign-in
does with a transform that cannot apply (the attribute is left out and logged)."""

from __future__ import annotations

import logging

import pytest

from connectors.saml.settings import SAML_MAPPING
from users.mapping import (
    DEFAULT_MAPPING,
    MAX_REPLACE_INPUT,
    map_claims,
    map_profile,
    parse_spec,
    pattern_problem,
    validate_mapping,
)


@pytest.mark.parametrize(("spec", "claims", "expected"), [
    ("name", {"name": "Ada"}, "Ada"),
    ("app_metadata.employee_id", {"app_metadata": {"employee_id": 7}}, 7),
    ("name|lower", {"name": "ADA"}, "ada"),
    ("name|upper", {"name": "ada"}, "ADA"),
    ("name|trim", {"name": "  Ada "}, "Ada"),
    ("name|strip", {"name": "  Ada "}, "Ada"),
    ("name|strip|upper", {"name": " ada "}, "ADA"),
    ("groups|lower", {"groups": ["A", "B", 3]}, ["a", "b", 3]),
    ("flag|bool", {"flag": "yes"}, True),
    ("flag|bool", {"flag": "No"}, False),
    ("flag|bool", {"flag": True}, True),
    ("n|int", {"n": " 42 "}, 42),
    ("n|int", {"n": 42.0}, 42),
    ("born|date", {"born": "1815-12-10"}, "1815-12-10"),
    ("born|date", {"born": "1815-12-10T08:00:00Z"}, "1815-12-10"),
    ("groups|split(,)", {"groups": "a, b,,c"}, ["a", "b", "c"]),
    ("groups|split()", {"groups": "a  b\tc"}, ["a", "b", "c"]),
    ("groups|split", {"groups": "a b"}, ["a", "b"]),
    ("groups|split(|)", {"groups": "a|b"}, ["a", "b"]),
    ("groups|join(;)", {"groups": ["a", "b"]}, "a;b"),
    ('groups|join(" | ")', {"groups": ["a", "b"]}, "a | b"),
    ("groups|join('))')", {"groups": ["a", "b"]}, "a))b"),
    ("groups|split(,)|join(-)", {"groups": "a,b"}, "a-b"),
    ("locale|default(en)", {}, "en"),
    ("locale|default(en)", {"locale": ""}, "en"),
    ("locale|default(en)", {"locale": None}, "en"),
    ("locale|default(en)", {"locale": "de"}, "de"),
    ("locale|trim|default(en)", {"locale": "  "}, "en"),
    ("phone|replace(/[^0-9+]//)", {"phone": "+49 (30) 1234"}, "+49301234"),
    (r"mail|replace(/^(\w+)@(\w+)/\2 at \1/)", {"mail": "ada@host"}, "host at ada"),
    ("name|replace(/ADA/Countess/i)", {"name": "ada"}, "Countess"),
    (r"path|replace(/\//:/)", {"path": "a/b/c"}, "a:b:c"),
    ("tags|replace(/-//)", {"tags": ["a-b", "c-d"]}, ["ab", "cd"]),
    ("=constant", {}, "constant"),
    ("=", {}, ""),
])
def test_each_transform(spec, claims, expected):
    assert validate_mapping({"x": spec}) == []
    assert map_claims(claims, {"x": spec}) == {"x": expected}


def test_the_attribute_name_renames_the_claim_and_email_is_normalised():
    profile = map_claims({"mail": " Ada@Example.COM ", "first": "Ada"},
                         {"email": "mail", "given_name": "first", "nick": "=ada"})
    assert profile == {"email": "ada@example.com", "given_name": "Ada", "nick": "ada"}


def test_absent_and_null_claims_are_left_out_and_said_so():
    mapped = map_profile({"name": None}, {"name": "name", "missing": "a.b"})
    assert mapped.profile == {}
    assert mapped.problems == {"name": "'name' is null in the legacy profile",
                               "missing": "'a.b' is not in the legacy profile"}
    assert mapped.failed == set()


@pytest.mark.parametrize(("spec", "told"), [
    ("", "must be a non-empty string"),
    ("|lower", "a claim path comes before the first |"),
    ("a|nope", "unknown transform 'nope' (transform 1)"),
    ("a|lower|shout", "unknown transform 'shout' (transform 2)"),
    ("a|", "unknown transform '(nothing)'"),
    ("a|lower(x)", "lower takes no argument"),
    ("a|default", "default takes an argument"),
    ("a|split(,", "split( is not closed by )"),
    ('a|join("x', "the quote opened at character 8 is not closed"),
    ('a|join("x"y)', "join: expected ) at character 11"),
    ("a|lower)x", "expected | at character 8, after lower"),
    ("a|replace", "replace takes /PATTERN/REPLACEMENT/"),
    ("a|replace(x)", "replace takes /PATTERN/REPLACEMENT/"),
    ("a|replace(/x/)", "a closing / is missing"),
    ("a|replace(/x/y/g)", "unknown flags 'g'"),
    ("a|replace(//y/)", "the pattern is empty"),
    ("a|replace(/(/x/)", "not a regular expression"),
    (r"a|replace(/x/\1/)", "the replacement is not valid: invalid group reference 1"),
    ("a|replace(/" + "a" * 201 + "/b/)", "longer than 200 characters"),
])
def test_bad_specs_are_refused_with_where(spec, told):
    problems = validate_mapping({"x": spec})
    assert len(problems) == 1 and problems[0].startswith("x: ")
    assert told in problems[0]


def test_a_mapping_value_that_is_not_text():
    assert validate_mapping({"x": 3}) == ["x: must be a non-empty string"]
    assert map_profile({}, {"x": ["a"]}).problems == {"x": "must be a non-empty string"}


@pytest.mark.parametrize(("pattern", "told"), [
    ("(a+)+b", "a repetition inside a repeated group"),
    ("(a*)*", "a repetition inside a repeated group"),
    (r"(\w+\s?)*$", "a repetition inside a repeated group"),
    ("(a|ab)*c", "an alternation inside a repeated group"),
    ("(?:x|y)+", None),  # single characters: a class in disguise
    (r"(a)\1", "back-references are not allowed"),
    (r"(?P<x>a)(?P=x)", "back-references are not allowed"),
    ("a*b*c*", "3 open-ended repetitions"),
    ("^a*b*c*", None),  # anchored: each start costs nothing
    ("^a*b*c*d*", "4 open-ended repetitions (*, +, {n,}); at most 3"),
    (r"(\d{3})+", None),  # a fixed count inside is no ambiguity
    (r"[^0-9+]", None),
    (r"^\s*(.*?)\s*$", None),
    (r"a{1,5}b{2,8}c{0,3}", None),  # short bounded ranges do not count
])
def test_only_a_safe_subset_of_regular_expressions(pattern, told):
    problem = pattern_problem(pattern)
    if told is None:
        assert problem is None
    else:
        assert problem and told in problem


def test_replace_refuses_a_long_text_and_a_sign_in_leaves_the_attribute_out(caplog):
    mapping = {"phone": "phone|replace(/[^0-9]//)", "email": "email"}
    claims = {"phone": "1" * (MAX_REPLACE_INPUT + 1), "email": "a@example.com"}
    mapped = map_profile(claims, mapping)
    assert mapped.failed == {"phone"}
    assert "longer than 256 characters" in mapped.problems["phone"]
    with caplog.at_level(logging.WARNING, logger="users.mapping"):
        assert map_claims(claims, mapping) == {"email": "a@example.com"}
    assert "phone left out" in caplog.text and "1111" not in caplog.text  # never the value


@pytest.mark.parametrize(("spec", "value", "told"), [
    ("n|int", "n/a", "int: a str that is not a whole number"),
    ("n|int", True, "int: true or false is not a number"),
    ("n|int", 4.5, "int: a float that is not a whole number"),
    ("n|date", "soon", "date: a str that is not an ISO 8601 date"),
    ("n|date", 1815, "date: a int that is not an ISO 8601 date"),
])
def test_a_conversion_that_cannot_apply(spec, value, told):
    mapped = map_profile({"n": value}, {"x": spec})
    assert mapped.profile == {} and mapped.problems == {"x": told}


def test_every_shipped_mapping_is_still_valid():
    for mapping in (DEFAULT_MAPPING, SAML_MAPPING, {"a": "b|lower|strip|upper|bool"}):
        assert validate_mapping(mapping) == []


def test_a_parsed_spec_says_what_it_does():
    parsed = parse_spec(r"mail|trim|replace(/@.*$//)|default(nobody)")
    assert parsed.path == "mail"
    assert [t.name for t in parsed.transforms] == ["trim", "replace", "default"]
    assert parsed.transforms[1].argument == "@.*$" and parsed.transforms[2].argument == "nobody"
    assert parse_spec("=en").constant == "en"
