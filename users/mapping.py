"""From legacy claims to local attributes.

A mapping is ``{local_attribute: claim_path}``; a path is dotted (``app_metadata.employee_id``).
A path may end in ``|transform`` with transforms ``lower``, ``upper``, ``strip`` and ``bool``.
A value beginning with ``=`` is a constant (``locale = "=en"``).
"""

from __future__ import annotations

from typing import Any

from users.identifiers import normalise_email

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

_TRANSFORMS = {
    "lower": lambda v: v.lower() if isinstance(v, str) else v,
    "upper": lambda v: v.upper() if isinstance(v, str) else v,
    "strip": lambda v: v.strip() if isinstance(v, str) else v,
    "bool": lambda v: v if isinstance(v, bool) else str(v).lower() in ("true", "1", "yes"),
}


def validate_mapping(mapping: dict[str, str]) -> list[str]:
    """Problems with a mapping, for start-up validation."""
    problems = []
    for attribute, path in mapping.items():
        if not isinstance(path, str) or not path:
            problems.append(f"{attribute}: must be a non-empty string")
            continue
        if path.startswith("="):
            continue
        for transform in path.split("|")[1:]:
            if transform not in _TRANSFORMS:
                problems.append(f"{attribute}: unknown transform {transform!r}")
    return problems


def read_path(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def map_claims(claims: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    """Apply ``mapping`` to ``claims``; absent claims are left out, e-mail is normalised."""
    profile: dict[str, Any] = {}
    for attribute, spec in mapping.items():
        if spec.startswith("="):
            profile[attribute] = spec[1:]
            continue
        path, *transforms = spec.split("|")
        value = read_path(claims, path)
        if value is None:
            continue
        for transform in transforms:
            value = _TRANSFORMS[transform](value)
        profile[attribute] = value
    if isinstance(profile.get("email"), str):
        profile["email"] = normalise_email(profile["email"]) or None
    return {key: value for key, value in profile.items() if value is not None}
