"""From legacy claims to local attributes.

A mapping is ``{local_attribute: spec}``; the attribute's name renames the claim. A spec is a
dotted claim path (``app_metadata.employee_id``) followed by transforms, each after a ``|`` and
applied in order, or ``=value``, a constant (``locale = "=en"``).

Transforms:

* ``lower``, ``upper``, ``trim`` (``strip`` is the same): text, or each text of a list;
* ``bool``: ``true``, ``1``, ``yes`` (any case) are true, anything else false;
* ``int``: a whole number (``"42"`` or ``42``); ``date``: an ISO 8601 date or date-time, kept
  as ``YYYY-MM-DD``;
* ``split(SEP)``: text into a list, each part trimmed, empty parts dropped (``split()``: at
  white space); ``join(SEP)``: a list into text;
* ``default(VALUE)``: VALUE when the claim is absent, null, empty text or an empty list;
* ``replace(/PATTERN/REPLACEMENT/)``: a regular expression (``re``), every match replaced;
  ``\\/`` is a slash inside, ``\\1`` a group in the replacement, ``/i`` after the last slash
  ignores case.

An argument runs to the first ``)``; one that holds ``)`` or starts with a quote is written in
double or single quotes, with ``\\`` escaping the next character: ``join(" | ")``.

Regular expressions are Python's ``re``, which has no time limit, so only a safe subset is
accepted (:mod:`users.mapping_patterns`): at most 200 characters, no back-references, no
repetition inside a repeated group and no alternation inside one (``(a+)+``, ``(a|ab)*``), at
most two open-ended repetitions (three when anchored with ``^``), and the text they run on is at
most 256 characters. The worst case then stays within milliseconds.

:func:`map_claims` is what sign-ins use: an attribute whose transform cannot apply (``int`` of
``"n/a"``) is left out and logged, as an absent claim is. :func:`map_profile` says the same per
attribute, for the admin portal's mapping preview.
"""

from __future__ import annotations

import datetime
import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from users.identifiers import normalise_email
from users.mapping_patterns import MAX_PATTERN, pattern_problem

log = logging.getLogger(__name__)

#: Attributes with a column of their own on ``User``; everything else goes to ``attributes``.
STANDARD_ATTRIBUTES = (
    "email", "email_verified", "phone", "phone_verified", "username",
    "given_name", "family_name", "name", "locale",
)

DEFAULT_MAPPING = {
    "email": "email",
    "email_verified": "email_verified|bool",
    "given_name": "given_name",
    "family_name": "family_name",
    "name": "name",
    "locale": "locale",
}

MAX_REPLACE_INPUT = 256
#: Transforms with an argument, and whether the parentheses must be written.
_TAKES_ARGUMENT = {"split": False, "join": False, "default": True, "replace": True}
_PLAIN = ("lower", "upper", "trim", "strip", "bool", "int", "date")
_TRANSFORM_NAME = re.compile(r"[a-z]+")
_MISSING = object()


class MappingError(ValueError):
    """A spec that does not parse, or a transform that cannot apply to a value."""


__all__ = ["DEFAULT_MAPPING", "MAX_PATTERN", "MAX_REPLACE_INPUT", "STANDARD_ATTRIBUTES", "Mapped",
           "MappingError", "Spec", "Transform", "apply_transform", "map_claims", "map_profile",
           "parse_spec", "pattern_problem", "read_path", "validate_mapping"]


@dataclass(frozen=True)
class Transform:
    """One parsed transform: its name and argument (for ``replace``, the compiled pattern and
    the replacement)."""

    name: str
    argument: str | None = None
    pattern: re.Pattern | None = None
    replacement: str = ""


@dataclass(frozen=True)
class Spec:
    """A parsed spec: a constant, or a claim path and its transforms."""

    path: str | None
    transforms: tuple[Transform, ...] = ()
    constant: str | None = None


@dataclass
class Mapped:
    """What a mapping makes of a profile: the values, and why any attribute is missing."""

    profile: dict[str, Any] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    #: The attributes whose spec or transform failed (the others in ``problems`` are absent).
    failed: set[str] = field(default_factory=set)


def _quoted(text: str, start: int) -> tuple[str, int]:
    quote, position, out = text[start], start + 1, []
    while position < len(text):
        char = text[position]
        if char == "\\" and position + 1 < len(text):
            out.append(text[position + 1])
            position += 2
        elif char == quote:
            return "".join(out), position + 1
        else:
            out.append(char)
            position += 1
    raise MappingError(f"the quote opened at character {start + 1} is not closed")


def _delimited(text: str, start: int) -> tuple[str, int]:
    """Text up to the next unescaped ``/``; ``\\/`` is a slash, other escapes are kept."""
    position, out = start, []
    while position < len(text):
        char = text[position]
        if char == "\\" and position + 1 < len(text):
            following = text[position + 1]
            out.append("/" if following == "/" else "\\" + following)
            position += 2
        elif char == "/":
            return "".join(out), position + 1
        else:
            out.append(char)
            position += 1
    raise MappingError("replace takes /PATTERN/REPLACEMENT/: a closing / is missing")


def _replace_argument(text: str, start: int) -> tuple[Transform, int]:
    if text[start:start + 1] != "/":
        raise MappingError("replace takes /PATTERN/REPLACEMENT/")
    pattern, position = _delimited(text, start + 1)
    replacement, position = _delimited(text, position)
    flags_end = text.find(")", position)
    flags = text[position:flags_end] if flags_end >= 0 else text[position:]
    if flags not in ("", "i"):
        raise MappingError(f"replace: unknown flags {flags!r} (only i, ignore case)")
    problem = pattern_problem(pattern)
    if problem:
        raise MappingError(f"replace: {problem}")
    compiled = re.compile(pattern, re.IGNORECASE if flags else 0)
    try:
        compiled.sub(replacement, "")  # the replacement's group references are checked here
    except (re.error, IndexError) as error:
        raise MappingError(f"replace: the replacement is not valid: {error}") from None
    return Transform("replace", pattern, compiled, replacement), position + len(flags)


def _transform(text: str, start: int, number: int) -> tuple[Transform, int]:
    found = _TRANSFORM_NAME.match(text, start)
    name = found.group(0) if found else ""
    position = found.end() if found else start
    if name not in _PLAIN and name not in _TAKES_ARGUMENT:
        shown = text[start:].split("|")[0] or "(nothing)"
        raise MappingError(f"unknown transform {shown!r} (transform {number})")
    if name in _PLAIN:
        if text[position:position + 1] == "(":
            raise MappingError(f"{name} takes no argument (transform {number})")
        return Transform(name), position
    if text[position:position + 1] != "(":
        if name == "replace":
            raise MappingError(f"replace takes /PATTERN/REPLACEMENT/ (transform {number})")
        if _TAKES_ARGUMENT[name]:
            raise MappingError(f"{name} takes an argument: {name}(VALUE) (transform {number})")
        return Transform(name, ""), position
    position += 1
    if name == "replace":
        transform, position = _replace_argument(text, position)
    elif text[position:position + 1] in ("'", '"'):
        argument, position = _quoted(text, position)
        transform = Transform(name, argument)
    else:
        end = text.find(")", position)
        if end < 0:
            raise MappingError(f"{name}( is not closed by ) (transform {number})")
        transform, position = Transform(name, text[position:end]), end
    if text[position:position + 1] != ")":
        raise MappingError(f"{name}: expected ) at character {position + 1} (transform {number})")
    return transform, position + 1


def parse_spec(spec: str) -> Spec:
    """Parse one mapping value; :class:`MappingError` says what is wrong and where."""
    if not isinstance(spec, str) or not spec:
        raise MappingError("must be a non-empty string")
    return _parse(spec)


@lru_cache(maxsize=1024)
def _parse(spec: str) -> Spec:
    if spec.startswith("="):
        return Spec(None, constant=spec[1:])
    bar = spec.find("|")
    path = spec if bar < 0 else spec[:bar]
    if not path.strip():
        raise MappingError("a claim path comes before the first |")
    transforms, position = [], len(path)
    while position < len(spec):
        transform, position = _transform(spec, position + 1, len(transforms) + 1)
        transforms.append(transform)
        if position < len(spec) and spec[position] != "|":
            raise MappingError(f"expected | at character {position + 1}, after {transform.name}")
    return Spec(path, tuple(transforms))


def validate_mapping(mapping: dict[str, str]) -> list[str]:
    """Problems with a mapping, each ``attribute: what``, for start-up validation."""
    problems = []
    for attribute, spec in mapping.items():
        try:
            parse_spec(spec)
        except MappingError as error:
            problems.append(f"{attribute}: {error}")
    return problems


def _lookup(claims: Any, path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def read_path(claims: dict[str, Any], path: str) -> Any:
    """The claim at dotted ``path``, or None when it is absent."""
    value = _lookup(claims, path)
    return None if value is _MISSING else value


def _each(value: Any, change) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, list):
        return [change(item) if isinstance(item, str) else item for item in value]
    return value


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise MappingError("int: true or false is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,18}\s*", value):
        return int(value)
    raise MappingError(f"int: a {type(value).__name__} that is not a whole number")


def _to_date(value: Any) -> str:
    if isinstance(value, str):
        text = value.strip()
        try:
            return datetime.date.fromisoformat(text).isoformat()
        except ValueError:
            pass
        try:
            return datetime.datetime.fromisoformat(text).date().isoformat()
        except ValueError:
            pass
    raise MappingError(f"date: a {type(value).__name__} that is not an ISO 8601 date")


def _replace(transform: Transform, text: str) -> str:
    if len(text) > MAX_REPLACE_INPUT:
        raise MappingError(f"replace: the text is longer than {MAX_REPLACE_INPUT} characters")
    return transform.pattern.sub(transform.replacement, text)


def apply_transform(transform: Transform, value: Any) -> Any:
    """``value`` after ``transform`` (None: absent); MappingError when it cannot apply."""
    name = transform.name
    if name == "default":
        return transform.argument if value is None or value in ("", []) else value
    if value is None:
        return None
    if name == "lower":
        return _each(value, str.lower)
    if name == "upper":
        return _each(value, str.upper)
    if name in ("trim", "strip"):
        return _each(value, str.strip)
    if name == "bool":
        return value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1", "yes")
    if name == "int":
        return _to_int(value)
    if name == "date":
        return _to_date(value)
    if name == "split":
        if not isinstance(value, str):
            return value
        parts = value.split(transform.argument) if transform.argument else value.split()
        return [part.strip() for part in parts if part.strip()]
    if name == "join":
        return (transform.argument or "").join(str(item) for item in value) \
            if isinstance(value, list) else value
    return _each(value, lambda text: _replace(transform, text))


def _one(claims: dict[str, Any], spec: str) -> tuple[Any, str | None]:
    """One attribute's value and, when it has none, why."""
    parsed = parse_spec(spec)
    if parsed.constant is not None:
        return parsed.constant, None
    value = _lookup(claims, parsed.path)
    absent = value is _MISSING
    value = None if absent else value
    for transform in parsed.transforms:
        value = apply_transform(transform, value)
    if value is None:
        return None, (f"{parsed.path!r} is not in the legacy profile" if absent
                      else f"{parsed.path!r} is null in the legacy profile")
    return value, None


def map_profile(claims: dict[str, Any], mapping: dict[str, str]) -> Mapped:
    """Apply ``mapping`` to ``claims``, saying for each attribute left out why (a claim path
    the profile lacks, a spec that does not parse, a transform that cannot apply)."""
    mapped = Mapped()
    for attribute, spec in mapping.items():
        try:
            value, why = _one(claims, spec)
        except MappingError as error:
            mapped.problems[attribute] = str(error)
            mapped.failed.add(attribute)
            continue
        if why:
            mapped.problems[attribute] = why
        else:
            mapped.profile[attribute] = value
    email = mapped.profile.get("email")
    if isinstance(email, str):
        mapped.profile["email"] = normalise_email(email)
        if not mapped.profile["email"]:
            del mapped.profile["email"]
            mapped.problems["email"] = "empty after trimming"
    return mapped


def map_claims(claims: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    """Apply ``mapping`` to ``claims``; absent claims are left out, e-mail is normalised.

    An attribute whose transform cannot apply is left out too, and logged (its name and the
    reason, never the value): one odd legacy record must not stop a sign-in.
    """
    mapped = map_profile(claims, mapping)
    for attribute in sorted(mapped.failed):
        log.warning("mapping: %s left out: %s", attribute, mapped.problems[attribute])
    return mapped.profile
