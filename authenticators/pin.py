"""Device-bound PINs: a WebAuthn credential that stays on one device, unlocked by a PIN.

Registration makes a non-discoverable credential on the device's own (platform) authenticator
and stores it with an argon2id hash of the PIN the user chose. A credential the authenticator
reports as synced to other devices (backup eligible) is refused: then the PIN would follow it.

Sign-in needs both factors, in this order: the device's assertion for one of the user's PIN
credentials (``allowCredentials`` names them, so the browser answers only on a device that holds
one), then the PIN, checked against *that* credential's hash. A right PIN on another device has
no assertion to go with it; a stolen assertion has no PIN. Wrong PINs count per credential;
:data:`MAX_FAILURES` in a row disable it (audited) and the user signs in another way. A right
PIN resets the count. The PIN is only checked once the assertion verified, so nobody can guess
PINs, or lock a user's PIN, without that user's device.

Unknown identifiers get the same page: options naming a decoy credential id derived from the
identifier with the app's secret key, which no device holds.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import peewee
from argon2 import PasswordHasher
from webauthn import (
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, parse_authentication_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorAttachment,
    AuthenticatorSelectionCriteria,
    CredentialDeviceType,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from authenticators.base import Authenticator, ceremony_json
from authenticators.passkey import (
    PasskeyRefused,
    check_counter,
    creation_options,
    request_options,
    take_ceremony,
)
from authenticators.password import hasher_from, verify_hash
from models import PinCredential, User, utcnow
from security.audit import record

#: Wrong PINs in a row that disable a PIN.
MAX_FAILURES = 10
MIN_LENGTH, MAX_LENGTH = 6, 12
#: Lengths of credential ids common authenticators make, for decoys.
DECOY_LENGTHS = (16, 20, 32, 48, 63)


class PinWrong(Exception):
    """The device was right, the PIN was not. ``remaining``: tries left before it is disabled."""

    def __init__(self, remaining: int) -> None:
        super().__init__(remaining)
        self.remaining = remaining


@dataclass(frozen=True)
class PinSignIn:
    credential: PinCredential
    user: User
    #: RFC 8176: a hardware-bound key (hwk) and a PIN; two factors (mfa).
    amr: tuple[str, ...] = ("hwk", "pin", "mfa")


def pin_problem(pin: str) -> str | None:
    """Why ``pin`` is not acceptable (a short code), or None.

    ``digits``: only 0-9; ``length``: 6 to 12 of them; ``repeated``: one digit over and over
    (111111); ``sequence``: a run up or down (123456, 987654, 890123 wrapping round).
    """
    if not re.fullmatch(r"[0-9]+", pin or ""):
        return "digits"
    if not MIN_LENGTH <= len(pin) <= MAX_LENGTH:
        return "length"
    if len(set(pin)) == 1:
        return "repeated"
    steps = {(int(b) - int(a)) % 10 for a, b in zip(pin, pin[1:], strict=False)}
    if steps in ({1}, {9}):
        return "sequence"
    return None


def pin_pattern() -> str:
    """:func:`pin_problem`'s rules as an HTML ``pattern`` (the browser checks it before the
    device is asked for a key, so a PIN the server would refuse never costs a device prompt).

    One digit repeated is a lookahead with a back-reference; the runs are every prefix of 6 to
    12 digits of the 20 endless runs (ten starting digits, up or down), as nested optional groups.
    """
    runs = []
    for start in range(10):
        for step in (1, 9):
            digits = "".join(str((start + step * i) % 10) for i in range(MAX_LENGTH))
            tail = ""
            for digit in reversed(digits[MIN_LENGTH:]):
                tail = f"(?:{digit}{tail})?"
            runs.append(digits[:MIN_LENGTH] + tail)
    return rf"(?!(\d)\1*$)(?!(?:{'|'.join(runs)})$)\d{{{MIN_LENGTH},{MAX_LENGTH}}}"


class PinAuthenticator(Authenticator):
    type = "pin"

    def __init__(self, rp_id: str, rp_name: str, origins: list[str], hasher: PasswordHasher,
                 secret: bytes) -> None:
        self.rp_id, self.rp_name, self.origins = rp_id, rp_name, origins
        self.hasher = hasher
        self.secret = secret

    @classmethod
    def from_config(cls, config: Any) -> PinAuthenticator:
        return cls(
            rp_id=config["WEBAUTHN_RP_ID"], rp_name=config["WEBAUTHN_RP_ID"],
            origins=list(config["WEBAUTHN_ORIGINS"]),
            hasher=hasher_from(config),
            secret=str(config["SECRET_KEY"]).encode(),
        )

    # -- registration ------------------------------------------------------------------------
    def registration_options(self, context: dict[str, Any], user: User) -> str:
        existing = PinCredential.select().where(PinCredential.user == user)
        return creation_options(
            context, "pin_registration", rp_id=self.rp_id, rp_name=self.rp_name, user=user,
            selection=AuthenticatorSelectionCriteria(
                authenticator_attachment=AuthenticatorAttachment.PLATFORM,
                resident_key=ResidentKeyRequirement.DISCOURAGED, require_resident_key=False,
                # The PIN is the knowledge factor; the device need only prove possession.
                user_verification=UserVerificationRequirement.DISCOURAGED,
            ),
            exclude=[c.credential_id for c in existing],
        )

    def register(self, context: dict[str, Any], user: User, answer: str, pin: str) -> PinCredential:
        """Verify the device's ``create`` answer and store it with the PIN's hash."""
        if pin_problem(pin):
            raise ValueError("the PIN must pass pin_problem() first")
        challenge = take_ceremony(context, "pin_registration")
        try:
            verified = verify_registration_response(
                credential=ceremony_json(answer), expected_challenge=challenge, expected_rp_id=self.rp_id,
                expected_origin=self.origins, require_user_verification=False,
            )
        except (WebAuthnException, ValueError, TypeError, KeyError) as error:
            raise PasskeyRefused("invalid_registration") from error
        if verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE:
            raise PasskeyRefused("synced_credential")
        credential_id = bytes_to_base64url(verified.credential_id)
        pin_hash = self.hasher.hash(pin)  # before the write: no lock held across argon2
        try:
            return PinCredential.create(
                user=user, credential_id=credential_id, public_key=verified.credential_public_key,
                sign_count=verified.sign_count, pin_hash=pin_hash,
            )
        except peewee.IntegrityError:
            raise PasskeyRefused("credential_exists") from None  # already, or twice at once

    # -- sign-in -----------------------------------------------------------------------------
    def usable(self, user: User | None) -> list[PinCredential]:
        if user is None:
            return []
        return list(PinCredential.select().where(
            (PinCredential.user == user) & PinCredential.disabled_at.is_null()))

    def authentication_options(self, context: dict[str, Any], user: User | None,
                               identifier: str) -> str:
        """Options naming the user's usable PIN credentials (a decoy when there are none)."""
        ids = [base64url_to_bytes(c.credential_id) for c in self.usable(user)]
        if not ids:
            ids = [self._decoy(identifier)]
        return request_options(context, "pin_authentication", rp_id=self.rp_id, allow=ids,
                               user_verification=UserVerificationRequirement.DISCOURAGED)

    def _decoy(self, identifier: str) -> bytes:
        """A credential id no device holds, stable per identifier, as long as real ones are
        (authenticators make ids of 16 to 64 bytes; the length is part of the disguise)."""
        digest = hmac.new(self.secret, b"pin-decoy:" + identifier.encode(), hashlib.sha512).digest()
        return digest[1:1 + DECOY_LENGTHS[digest[0] % len(DECOY_LENGTHS)]]

    def authenticate(self, context: dict[str, Any], user: User | None, answer: str, pin: str,
                     spend: Callable[[], None] | None = None) -> PinSignIn:
        """Check the device's assertion for ``user``, then the PIN.

        ``spend`` makes the challenge's removal durable before anything is counted (the step
        saves its run; a parallel request holding the same answer then fails as stale). The
        wrong-PIN count is reserved by one conditional UPDATE before argon2 runs, so parallel
        guesses can never pass :data:`MAX_FAILURES`. Raises :class:`PasskeyRefused` when the
        device part fails (nothing counted) and :class:`PinWrong` when the PIN was wrong.
        """
        challenge = take_ceremony(context, "pin_authentication")
        if spend is not None:
            spend()
        try:
            parsed = parse_authentication_credential_json(ceremony_json(answer))
        except (WebAuthnException, ValueError, TypeError, KeyError) as error:
            raise PasskeyRefused("malformed") from error
        credential = PinCredential.get_or_none(
            PinCredential.credential_id == bytes_to_base64url(parsed.raw_id))
        if credential is None or user is None or credential.user_id != user.id:
            raise PasskeyRefused("unknown_credential")  # includes another user's credential
        try:
            verified = verify_authentication_response(
                credential=parsed, expected_challenge=challenge, expected_rp_id=self.rp_id,
                expected_origin=self.origins, credential_public_key=bytes(credential.public_key),
                credential_current_sign_count=0, require_user_verification=False,
            )
        except (WebAuthnException, ValueError, TypeError) as error:
            raise PasskeyRefused("invalid_assertion") from error
        # Only a verified device learns that its PIN is turned off.
        if credential.disabled_at is not None:
            raise PasskeyRefused("pin_disabled")
        check_counter(credential, verified.new_sign_count, "pin")
        if user.status != "active":
            raise PasskeyRefused("user_disabled")
        self._reserve_attempt(credential, verified.new_sign_count)
        if not verify_hash(self.hasher, credential.pin_hash, pin):
            raise PinWrong(self._count_failure(credential))
        PinCredential.update(failed_attempts=0, last_used_at=utcnow()).where(
            (PinCredential.id == credential.id) & PinCredential.disabled_at.is_null()).execute()
        return PinSignIn(credential=credential, user=user)

    def _reserve_attempt(self, credential: PinCredential, sign_count: int) -> None:
        """Count this attempt as wrong until the PIN proves right, and spend the signature.

        One statement: it only succeeds while the PIN is on, under the limit, and the counter
        still grows (or neither side counts), so parallel requests cannot share a guess.
        """
        counter_ok = (PinCredential.sign_count < sign_count) if sign_count else \
            (PinCredential.sign_count == 0)
        reserved = PinCredential.update(
            failed_attempts=PinCredential.failed_attempts + 1, sign_count=sign_count,
        ).where(
            (PinCredential.id == credential.id) & PinCredential.disabled_at.is_null()
            & (PinCredential.failed_attempts < MAX_FAILURES) & counter_ok
        ).execute()
        if not reserved:
            raise PasskeyRefused("pin_disabled" if self._disabled(credential) else "raced")

    @staticmethod
    def _disabled(credential: PinCredential) -> bool:
        row = PinCredential.get_or_none(PinCredential.id == credential.id)
        return row is None or row.disabled_at is not None or row.failed_attempts >= MAX_FAILURES

    def _count_failure(self, credential: PinCredential) -> int:
        """The attempt reserved was wrong: disable the PIN at the limit. Returns tries left."""
        failures = PinCredential.get_by_id(credential.id).failed_attempts
        if failures >= MAX_FAILURES:
            disabled = PinCredential.update(disabled_at=utcnow()).where(
                (PinCredential.id == credential.id) & PinCredential.disabled_at.is_null()
            ).execute()
            if disabled:
                record("pin.disabled", user_id=credential.user_id,
                       credential=credential.credential_id, failures=failures)
        return max(MAX_FAILURES - failures, 0)
