"""The user schema: Ferry's standard attributes plus the custom ones a deployment declares.

``[schema]`` in ``ferry.toml``, or the portal's user schema (the store's ``schema`` object,
``default``), holds::

    required = ["given_name"]                    # standard attributes every user must have
    [schema.attributes.employee_id]
    type = "string"                               # string, boolean, integer, date (ISO 8601)
    required = true
    unique = true
    identifier = true                             # a key users are found by (implies unique)
    description = "HR number"

The standard attributes (:data:`STANDARD`) are columns of ``User``; a custom attribute lands in
the user's ``attributes``. ``email`` and ``username`` are the sign-in identifiers; a custom
identifier is a unique text the portal's user search finds users by. :func:`check_profile` says
what a mapped legacy profile breaks, per attribute (the portal's mapping preview).
"""

from __future__ import annotations

import datetime
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

AttributeType = Literal["string", "boolean", "integer", "date"]
TYPES: tuple[AttributeType, ...] = ("string", "boolean", "integer", "date")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
#: The transform that turns a value into each type, suggested when a value does not fit.
CONVERSIONS = {"boolean": "bool", "integer": "int", "date": "date"}


class Attribute(BaseModel):
    """One attribute of the user schema."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: AttributeType = "string"
    required: bool = False
    unique: bool = False
    identifier: bool = False
    description: str = Field("", max_length=200)
    max_length: int | None = Field(None, ge=1)  # standard columns only: what the column holds

    @model_validator(mode="before")
    @classmethod
    def _identifier_is_unique(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("identifier"):
            if data.get("unique") is False:
                raise PydanticCustomError("identifier", "an identifier is unique: drop unique = false")
            if data.get("type", "string") != "string":
                raise PydanticCustomError("identifier", "an identifier is a string")
            data = {**data, "unique": True}
        return data


def _column(kind: AttributeType, length: int | None = None, **flags: bool) -> Attribute:
    return Attribute(type=kind, max_length=length, **flags)


#: The standard attributes, in the order the portal shows them (lengths are the columns').
STANDARD: dict[str, Attribute] = {
    "email": _column("string", 320, unique=True, identifier=True),
    "email_verified": _column("boolean"),
    "phone": _column("string", 32, unique=True),
    "phone_verified": _column("boolean"),
    "username": _column("string", 150, unique=True, identifier=True),
    "given_name": _column("string", 200),
    "family_name": _column("string", 200),
    "name": _column("string", 400),
    "locale": _column("string", 35),
}
STANDARD_TYPES: dict[str, AttributeType] = {name: spec.type for name, spec in STANDARD.items()}


def _custom_name(name: str) -> str:
    if name in STANDARD:
        raise PydanticCustomError("attribute_name", "{name} is a standard attribute: it needs no "
                                  "declaration (list it in required to require it)", {"name": name})
    if not _NAME.match(name):
        raise PydanticCustomError("attribute_name", "{name}: lower-case letters, digits and _, "
                                  "starting with a letter, at most 63", {"name": name})
    return name


CustomName = Annotated[str, AfterValidator(_custom_name)]


class UserSchema(BaseModel):
    """A deployment's user schema: which standard attributes are required, and its custom ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    required: list[str] = Field(default_factory=list)
    attributes: dict[CustomName, Attribute] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _required_are_standard(self) -> UserSchema:
        for name in self.required:
            if name not in STANDARD:
                raise PydanticCustomError(
                    "required", "required: {name} is not a standard attribute (a custom one is "
                    "required with its own required = true)", {"name": name})
        for spec in self.attributes.values():
            if spec.max_length is not None:
                raise PydanticCustomError("max_length", "max_length is for standard attributes")
        return self

    def all(self) -> dict[str, Attribute]:
        """Every attribute, standard ones first, with ``required`` as this schema says."""
        found = {name: spec.model_copy(update={"required": name in self.required})
                 for name, spec in STANDARD.items()}
        found.update(self.attributes)
        return found

    def type_of(self, name: str) -> AttributeType | None:
        """The type of a standard or custom attribute (None: not in the schema)."""
        spec = self.all().get(name)
        return spec.type if spec else None

    def identifiers(self) -> list[str]:
        """The attributes users are found by: e-mail, username and the custom identifiers."""
        return [name for name, spec in self.all().items() if spec.identifier]

    def table(self) -> dict[str, Any]:
        """This schema as the ``[schema]`` table (what the store keeps and the export writes)."""
        return self.model_dump(exclude_defaults=True)


def live() -> UserSchema:
    """The running deployment's schema (the store's, else the file's), for this request."""
    from flask import current_app

    from settings import deployment

    return load(deployment(current_app).schema)


def load(table: dict[str, Any] | None) -> UserSchema:
    """The schema of a deployment's ``[schema]`` table (validated at start-up and by the
    store, so this does not fail for a running deployment)."""
    return UserSchema(**(table or {}))


def fits(kind: AttributeType, value: Any) -> bool:
    """Whether ``value`` is of the schema type ``kind`` (a date is ISO 8601 text)."""
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "date":
        if not isinstance(value, str):
            return False
        try:
            datetime.date.fromisoformat(value)
        except ValueError:
            return False
        return True
    return isinstance(value, str)


def _mismatch(kind: AttributeType, value: Any) -> str:
    found = type(value).__name__
    conversion = CONVERSIONS.get(kind)
    if conversion:
        return f"{found} where the schema wants {kind}: add |{conversion}"
    if isinstance(value, list):
        return f"a list where the schema wants {kind}: add |join(,)"
    return f"{found} where the schema wants {kind}"


def check_profile(schema: UserSchema, profile: dict[str, Any], mapping: dict[str, str],
                  absent: dict[str, str] | None = None) -> dict[str, str]:
    """Problems of a mapped profile by attribute: not in the schema, the wrong type, too long
    for its column, or a required attribute missing (``absent``: why the mapping left an
    attribute out, from :func:`users.mapping.map_profile`)."""
    attributes = schema.all()
    problems: dict[str, str] = {}
    for name, value in profile.items():
        spec = attributes.get(name)
        if spec is None:
            problems[name] = "not declared in the user schema: declare it, or it is kept untyped"
        elif not fits(spec.type, value):
            problems[name] = _mismatch(spec.type, value)
        elif spec.max_length and len(value) > spec.max_length:
            problems[name] = f"longer than {spec.max_length} characters"
    reasons = dict(absent or {})
    for name, spec_text in mapping.items():
        if name not in profile and name not in reasons and isinstance(spec_text, str) \
                and not spec_text.startswith("="):
            reasons[name] = f"{spec_text.split('|')[0]!r} is not in the legacy profile"
    for name, why in reasons.items():
        problems.setdefault(name, why)
    for name, spec in attributes.items():
        if spec.required and name not in profile:
            problems[name] = f"required, but absent: {reasons.get(name, 'the mapping does not set it')}"
    return problems
