"""An admin's passkeys: the second half of every portal sign-in.

The ceremonies are the end users' (:mod:`authenticators.passkey`: the same RP ID and origins,
the same option builders, challenges with an expiry, the counter check), kept in the portal's
own session. An admin's WebAuthn user handle is ``admin-<id>``, never an end user's id, and
``allowCredentials`` names only that admin's passkeys.

Single use. The portal's session is a signed cookie, so taking the challenge out of it is not
enough: a browser (or whoever copied its cookie and the answer) could post the old cookie again.
So a challenge is also *spent* on the server before its answer is checked, in the throttle's
storage (:func:`install`: in process with ``memory://``, shared by every server with Redis),
and a spent challenge is refused, whatever the cookie says. A passkey that does not count
(synced passkeys answer 0) would otherwise let the same answer in twice.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import peewee
from flask import current_app
from webauthn import verify_authentication_response, verify_registration_response
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, parse_authentication_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import AuthenticatorSelectionCriteria, ResidentKeyRequirement

import authenticators
from authenticators.base import ceremony_json
from authenticators.passkey import (
    PasskeyRefused,
    check_counter,
    creation_options,
    request_options,
    take_ceremony,
)
from models import AdminAccount, AdminPasskey, utcnow
from security.throttle import FailureThrottle

#: Where the running app keeps the challenges already answered.
SPENT = "ferry.admin_challenges"
#: Longer than a ceremony lives (``CEREMONY_TTL``): a spent challenge is known until it expires.
_SPENT_FOR = "1 per 10 minutes"


def install(app) -> None:
    """Give ``app`` its record of spent challenges (on the throttle's storage)."""
    app.extensions[SPENT] = FailureThrottle(app.config["RATELIMIT_STORAGE_URI"], _SPENT_FOR)


def _spend(ceremony: str, challenge: bytes) -> None:
    """Mark ``challenge`` used; PasskeyRefused("replayed") if it was already."""
    if current_app.extensions[SPENT].admission(ceremony, bytes_to_base64url(challenge)) is None:
        raise PasskeyRefused("replayed")


def _relying_party():
    return authenticators.get("passkey")


def _handle(admin: AdminAccount) -> bytes:
    return f"admin-{admin.id}".encode()


def _holder(admin: AdminAccount) -> Any:
    """What the option builders read of a user, for an admin."""
    return SimpleNamespace(id=_handle(admin).decode(), email=admin.email, username=None,
                           name=admin.email)


def has_passkey(admin: AdminAccount) -> bool:
    """Whether the admin has enrolled a passkey yet."""
    return AdminPasskey.select().where(AdminPasskey.admin == admin).exists()


def registration_options(context: dict, admin: AdminAccount) -> str:
    """Options for ``navigator.credentials.create`` (JSON), the challenge kept in ``context``."""
    rp = _relying_party()
    existing = [row.credential_id for row in AdminPasskey.select().where(AdminPasskey.admin == admin)]
    return creation_options(context, "admin-registration", rp_id=rp.rp_id, rp_name=rp.rp_name,
                            user=_holder(admin),
                            selection=AuthenticatorSelectionCriteria(
                                resident_key=ResidentKeyRequirement.PREFERRED,
                                user_verification=rp.user_verification),
                            exclude=existing)


def register(context: dict, admin: AdminAccount, answer: str) -> AdminPasskey:
    """Verify the browser's ``create`` answer and keep the passkey; PasskeyRefused otherwise."""
    rp = _relying_party()
    challenge = take_ceremony(context, "admin-registration")
    _spend("admin-registration", challenge)
    try:
        verified = verify_registration_response(
            credential=ceremony_json(answer), expected_challenge=challenge, expected_rp_id=rp.rp_id,
            expected_origin=rp.origins, require_user_verification=rp.requires_user_verification)
    except (WebAuthnException, ValueError, TypeError, KeyError) as error:
        raise PasskeyRefused("invalid_registration") from error
    try:
        return AdminPasskey.create(admin=admin, credential_id=bytes_to_base64url(verified.credential_id),
                                   public_key=bytes_to_base64url(verified.credential_public_key),
                                   sign_count=verified.sign_count, created_at=utcnow())
    except peewee.IntegrityError:
        raise PasskeyRefused("credential_exists") from None


def authentication_options(context: dict, admin: AdminAccount) -> str:
    """Options for ``navigator.credentials.get`` naming only this admin's passkeys."""
    rp = _relying_party()
    allow = [base64url_to_bytes(row.credential_id)
             for row in AdminPasskey.select().where(AdminPasskey.admin == admin)]
    return request_options(context, "admin-authentication", rp_id=rp.rp_id, allow=allow,
                           user_verification=rp.user_verification)


def authenticate(context: dict, admin: AdminAccount, answer: str) -> AdminPasskey:
    """Verify the browser's ``get`` answer for one of ``admin``'s passkeys."""
    rp = _relying_party()
    challenge = take_ceremony(context, "admin-authentication")
    _spend("admin-authentication", challenge)
    try:
        parsed = parse_authentication_credential_json(ceremony_json(answer))
    except (WebAuthnException, ValueError, TypeError, KeyError) as error:
        raise PasskeyRefused("malformed") from error
    row = AdminPasskey.get_or_none((AdminPasskey.credential_id == bytes_to_base64url(parsed.raw_id))
                                   & (AdminPasskey.admin == admin))
    if row is None:
        raise PasskeyRefused("unknown_credential")
    handle = parsed.response.user_handle
    if handle is not None and handle != _handle(admin):
        raise PasskeyRefused("user_mismatch")  # a discoverable key names its admin: this one
    try:
        verified = verify_authentication_response(
            credential=parsed, expected_challenge=challenge, expected_rp_id=rp.rp_id,
            expected_origin=rp.origins, credential_public_key=base64url_to_bytes(row.public_key),
            credential_current_sign_count=0, require_user_verification=rp.requires_user_verification)
    except (WebAuthnException, ValueError, TypeError) as error:
        raise PasskeyRefused("invalid_assertion") from error
    row.user_id = f"admin-{admin.id}"  # what check_counter audits
    check_counter(row, verified.new_sign_count, "admin_passkey")
    AdminPasskey.update(sign_count=verified.new_sign_count, last_used_at=utcnow()).where(
        AdminPasskey.id == row.id).execute()
    return row
