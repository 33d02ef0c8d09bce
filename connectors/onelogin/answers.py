"""Reading OneLogin's answers for the ``onelogin`` connector: users into claims, MFA devices.

Pure functions over parsed JSON, so that a field that is missing or of the wrong type is read as
absent here and the connector decides what that means (see :mod:`connectors.onelogin`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

#: Devices Ferry can ask a code for, by OneLogin's ``device_type``, in order of preference.
CODE_DEVICES = {"Google Authenticator": "totp", "OneLogin SMS": "sms", "OneLogin OTP SMS": "sms"}
LOCKED_STATUS = 3  # OneLogin user status: 0 unactivated, 1 active, 2 suspended, 3 locked...
SUSPENDED_STATUS = 2


def onelogin_claims(user: dict[str, Any], full: bool = False) -> dict[str, Any]:
    """Standard claims from a OneLogin user (the login answer's, or ``/api/2/users``'s)."""
    given, family = user.get("firstname"), user.get("lastname")
    claims: dict[str, Any] = {
        "sub": str(user["id"]) if user.get("id") is not None else None,
        "email": user.get("email") or None,
        "preferred_username": user.get("username") or user.get("email") or None,
        "given_name": given or None,
        "family_name": family or None,
        "name": " ".join(p for p in (given, family) if isinstance(p, str) and p) or None,
    }
    if full:
        claims.update({
            "phone_number": user.get("phone") or None,
            "locale": user.get("locale_code") or user.get("preferred_locale_code") or None,
            "status": user.get("status"),
            "custom_attributes": as_dict(user.get("custom_attributes")) or None,
            "profile": user,
        })
    return {key: value for key, value in claims.items() if value is not None}


def locked(user: dict[str, Any]) -> bool:
    """Whether a ``/2`` user is locked: status 3, or ``locked_until`` still ahead."""
    if user.get("status") == LOCKED_STATUS:
        return True
    until = user.get("locked_until")
    try:
        return isinstance(until, str) and datetime.fromisoformat(
            until.replace("Z", "+00:00")) > datetime.now(UTC)
    except (TypeError, ValueError):  # not a date, or one without a zone
        return False


def code_kind(device_type: Any) -> str | None:
    """``totp``, ``sms`` or ``email`` for a device Ferry can ask a code for; else None."""
    if not isinstance(device_type, str):
        return None
    return CODE_DEVICES.get(device_type) or ("email" if "email" in device_type.lower() else None)


def device_id(device: Any) -> str | None:
    """A device's ``device_id`` as a string (OneLogin sends a number), or None."""
    value = as_dict(device).get("device_id")
    return str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else None


def user_fields(user: dict[str, Any]) -> dict[str, Any]:
    """The login answer's user, kept in the MFA state (Verify Factor may not repeat it)."""
    return {k: user[k] for k in ("id", "email", "username", "firstname", "lastname") if k in user}


def first(body: Any) -> dict[str, Any]:
    """``data[0]`` of a ``/1`` answer, or an empty object when there is none."""
    data = body.get("data") if isinstance(body, dict) else None
    return as_dict(data[0]) if isinstance(data, list) and data else {}


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}
