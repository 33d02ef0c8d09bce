"""Passkeys: discoverable WebAuthn credentials, registered and checked with py_webauthn.

The relying party is ``webauthn_rp_id`` (default: the issuer's host); ceremonies are accepted
from ``webauthn_origins`` (default: the issuer's origin); ``webauthn_user_verification`` says
whether the authenticator must verify the user (PIN, biometrics) or only should.

Ceremony state. The challenge of a ceremony is kept in the journey run's context (server-side,
JSON, tied to the browser's run), with its expiry, and popped by the verification that uses it:
single use, short-lived, and never in the browser. That is as sound as a signed token (nothing
the browser holds can be replayed or forged) and simpler: there is no second secret to rotate
and no replay cache, because the run itself is the single-use store.

Checks on every answer: the origin, the RP ID hash, the challenge, the user presence and (per
policy) user verification flags, the signature, the credential's owner (the ``userHandle``
must name the user the credential belongs to) and the signature counter: a counter that did not
grow (when either side counts) suggests a cloned authenticator; it is refused and audited.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import peewee
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, parse_authentication_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from authenticators.base import Authenticator, ceremony_json
from models import PasskeyCredential, User, fast, utcnow
from security.audit import record
from settings.errors import ConfigError

log = logging.getLogger(__name__)


def clock() -> float:
    """Now, in seconds since the epoch: a ceremony's clock (tests move this, not ``time.time``)."""
    return time.time()

#: Where a run's context keeps the ceremony in progress.
CONTEXT_KEY = "webauthn"
#: Seconds a ceremony may take, from the options sent to the answer posted.
CEREMONY_TTL = 300


def check_rp_id(rp_id: str, issuer: str) -> None:
    """Refuse an IP address as the relying party ID: browsers accept only a domain there.

    The RP ID defaults to the issuer's host, so an issuer such as ``https://10.0.0.5`` would
    start, and then every passkey and PIN ceremony would fail in the browser with nothing
    better than "try again". A loopback address (``http://127.0.0.1:PORT``: benchmarks, scripts
    that never open a browser) starts, with a warning: refusing it would stop nothing harmful.
    """
    try:
        address = ipaddress.ip_address(rp_id.strip("[]"))
    except ValueError:
        return  # a domain (or localhost): what WebAuthn wants
    advice = ("browsers refuse passkeys and PINs on an IP address, so every ceremony would fail; "
              "serve Ferry under a domain name (issuer = \"https://login.example.com\") or set "
              "webauthn_rp_id (FERRY_WEBAUTHN_RP_ID) to the domain it is reached at")
    if address.is_loopback:
        log.warning("webauthn_rp_id is %s (issuer %s), an IP address: %s; on this machine "
                    "open Ferry at http://localhost:PORT with issuer = \"http://localhost:PORT\"",
                    rp_id, issuer, advice)
        return
    raise ConfigError(f"ferry.webauthn_rp_id: {rp_id!r} (issuer {issuer}) is an IP address: {advice}")


class PasskeyRefused(Exception):
    """A passkey answer was not accepted; ``reason`` is a short code for the audit log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PasskeySignIn:
    """A verified passkey sign-in: whose credential, and the RFC 8176 ``amr`` values it proves."""

    credential: PasskeyCredential
    user: User
    amr: tuple[str, ...]


class PasskeyAuthenticator(Authenticator):
    type = "passkey"

    def __init__(self, rp_id: str, rp_name: str, origins: list[str], user_verification: str) -> None:
        self.rp_id = rp_id
        self.rp_name = rp_name
        self.origins = origins
        self.user_verification = UserVerificationRequirement(user_verification)

    @classmethod
    def from_config(cls, config: Any) -> PasskeyAuthenticator:
        check_rp_id(config["WEBAUTHN_RP_ID"], config["ISSUER"])  # the PIN shares this RP ID
        return cls(
            rp_id=config["WEBAUTHN_RP_ID"], rp_name=config["WEBAUTHN_RP_ID"],
            origins=list(config["WEBAUTHN_ORIGINS"]),
            user_verification=config["WEBAUTHN_USER_VERIFICATION"],
        )

    @property
    def requires_user_verification(self) -> bool:
        return self.user_verification is UserVerificationRequirement.REQUIRED

    # -- registration ------------------------------------------------------------------------
    def registration_options(self, context: dict[str, Any], user: User) -> str:
        """Options for ``navigator.credentials.create`` (JSON); the challenge goes to ``context``."""
        existing = PasskeyCredential.select().where(PasskeyCredential.user == user)
        return creation_options(
            context, "registration", rp_id=self.rp_id, rp_name=self.rp_name, user=user,
            selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED, require_resident_key=True,
                user_verification=self.user_verification,
            ),
            exclude=[c.credential_id for c in existing],
        )

    def register(self, context: dict[str, Any], user: User, answer: str) -> PasskeyCredential:
        """Verify the browser's ``create`` answer and store the new credential for ``user``."""
        challenge = take_ceremony(context, "registration")
        try:
            verified = verify_registration_response(
                credential=ceremony_json(answer), expected_challenge=challenge, expected_rp_id=self.rp_id,
                expected_origin=self.origins,
                require_user_verification=self.requires_user_verification,
            )
            transports = _transports(answer)
        except (WebAuthnException, ValueError, TypeError, KeyError) as error:
            raise PasskeyRefused("invalid_registration") from error
        credential_id = bytes_to_base64url(verified.credential_id)
        try:
            return PasskeyCredential.create(
                user=user, credential_id=credential_id, public_key=verified.credential_public_key,
                sign_count=verified.sign_count, transports=transports,
                backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
                backed_up=verified.credential_backed_up,
            )
        except peewee.IntegrityError:
            raise PasskeyRefused("credential_exists") from None  # already, or twice at once

    # -- authentication ----------------------------------------------------------------------
    def authentication_options(self, context: dict[str, Any]) -> str:
        """Options for a usernameless ``navigator.credentials.get`` (no allowCredentials)."""
        return request_options(context, "authentication", rp_id=self.rp_id, allow=[],
                               user_verification=self.user_verification)

    def authenticate(self, context: dict[str, Any], answer: str,
                     spend: Callable[[], None] | None = None) -> PasskeySignIn:
        """Verify the browser's ``get`` answer; updates the counter and last use of the credential.

        ``spend`` makes the challenge's removal durable first (the step saves its run), so the
        same answer posted twice at once signs in once.
        """
        challenge = take_ceremony(context, "authentication")
        if spend is not None:
            spend()
        try:
            parsed = parse_authentication_credential_json(ceremony_json(answer))
        except (WebAuthnException, ValueError, TypeError, KeyError) as error:
            raise PasskeyRefused("malformed") from error
        credential = fast.get(PasskeyCredential, credential_id=bytes_to_base64url(parsed.raw_id))
        user = fast.get(User, id=credential.user_id) if credential is not None else None
        if credential is None or user is None:
            raise PasskeyRefused("unknown_credential")
        credential.user = user
        # A discoverable credential names its user; it must be the credential's owner.
        if parsed.response.user_handle is not None and parsed.response.user_handle != user_handle(user):
            raise PasskeyRefused("user_mismatch")
        try:
            # The counter is checked below, after the signature, so a regression is told apart.
            verified = verify_authentication_response(
                credential=parsed, expected_challenge=challenge, expected_rp_id=self.rp_id,
                expected_origin=self.origins, credential_public_key=bytes(credential.public_key),
                credential_current_sign_count=0,
                require_user_verification=self.requires_user_verification,
            )
        except (WebAuthnException, ValueError, TypeError) as error:
            raise PasskeyRefused("invalid_assertion") from error
        check_counter(credential, verified.new_sign_count, "passkey")
        if user.status != "active":
            raise PasskeyRefused("user_disabled")
        fast.update(PasskeyCredential, {"sign_count": verified.new_sign_count,
                                        "last_used_at": utcnow(),
                                        "backed_up": verified.credential_backed_up},
                    id=credential.id)
        # RFC 8176: a key proved by possession (hwk; swk for a synced, multi-device passkey),
        # a user-presence test (user: WebAuthn requires UP), and with user verification
        # (PIN or biometrics on the device) a second factor: mfa.
        device = "swk" if credential.backup_eligible else "hwk"
        amr = (device, "user", "mfa") if verified.user_verified else (device, "user")
        return PasskeySignIn(credential=credential, user=user, amr=amr)


# -- shared by every WebAuthn ceremony (passkeys here, device-bound PINs in authenticators.pin) --
def pending_challenge(context: dict[str, Any], ceremony: str) -> bytes | None:
    """The challenge of this ceremony still pending with most of its time left, if any.

    Showing the same page again (a reload) reuses it, so a page view writes nothing; it is
    still single use, since the answer that uses it removes it.
    """
    state = context.get(CONTEXT_KEY)
    if (isinstance(state, dict) and state.get("ceremony") == ceremony
            and state.get("expires_at", 0) - clock() > CEREMONY_TTL / 2):
        return base64url_to_bytes(state["challenge"])
    return None


def time_left_ms(context: dict[str, Any], ceremony: str) -> int:
    """The options' ``timeout``: what is left of a pending challenge, else a whole ceremony."""
    state = context.get(CONTEXT_KEY)
    if pending_challenge(context, ceremony) is not None and isinstance(state, dict):
        return int((state["expires_at"] - clock()) * 1000)
    return CEREMONY_TTL * 1000


def creation_options(context: dict[str, Any], ceremony: str, *, rp_id: str, rp_name: str,
                     user: User, selection: AuthenticatorSelectionCriteria,
                     exclude: list[str]) -> str:
    """Options for ``navigator.credentials.create`` (JSON), the ceremony begun in ``context``."""
    options = generate_registration_options(
        rp_id=rp_id, rp_name=rp_name, user_id=user_handle(user),
        challenge=pending_challenge(context, ceremony),
        user_name=user.email or user.username or user.id,
        user_display_name=user.name or user.email or user.username or "",
        timeout=time_left_ms(context, ceremony), authenticator_selection=selection,
        exclude_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(credential_id))
                             for credential_id in exclude],
    )
    begin_ceremony(context, ceremony, options.challenge)
    return options_to_json(options)


def request_options(context: dict[str, Any], ceremony: str, *, rp_id: str, allow: list[bytes],
                    user_verification: UserVerificationRequirement) -> str:
    """Options for ``navigator.credentials.get`` (JSON), the ceremony begun in ``context``."""
    options = generate_authentication_options(
        rp_id=rp_id, timeout=time_left_ms(context, ceremony),
        challenge=pending_challenge(context, ceremony),
        allow_credentials=[PublicKeyCredentialDescriptor(id=i) for i in allow],
        user_verification=user_verification,
    )
    begin_ceremony(context, ceremony, options.challenge)
    return options_to_json(options)


def begin_ceremony(context: dict[str, Any], ceremony: str, challenge: bytes) -> None:
    """Keep ``challenge`` in the run's ``context`` until the answer arrives (or it expires)."""
    if pending_challenge(context, ceremony) == challenge:
        return
    context[CONTEXT_KEY] = {
        "ceremony": ceremony, "challenge": bytes_to_base64url(challenge),
        "expires_at": int(clock()) + CEREMONY_TTL,
    }


def take_ceremony(context: dict[str, Any], ceremony: str) -> bytes:
    """The challenge of the ceremony in progress, removed: a second answer finds none."""
    state = context.pop(CONTEXT_KEY, None)
    if not isinstance(state, dict) or state.get("ceremony") != ceremony:
        raise PasskeyRefused("no_ceremony")
    if state.get("expires_at", 0) < clock():
        raise PasskeyRefused("expired")
    return base64url_to_bytes(state["challenge"])


def check_counter(credential: Any, received: int, kind: str) -> None:
    """Refuse (and audit) a signature counter that did not grow while either side counts."""
    stored = credential.sign_count
    if (received or stored) and received <= stored:
        record(f"{kind}.counter_regression", user_id=credential.user_id,
               credential=credential.credential_id, stored=stored, received=received)
        raise PasskeyRefused("counter_regression")


def user_handle(user: User) -> bytes:
    """The WebAuthn user handle: Ferry's opaque user id, never an e-mail address."""
    return user.id.encode()


def _transports(answer: str) -> list[str]:
    known = {transport.value for transport in AuthenticatorTransport}
    reported = json.loads(answer).get("response", {}).get("transports") or []
    return [value for value in reported if value in known]
