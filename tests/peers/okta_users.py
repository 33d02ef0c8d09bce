"""The people of the Okta fake's tenant (:mod:`tests.peers.okta_fake`): users with their
status and factors, the transactions of the Authentication API, the default users, and RFC 6238
codes as an authenticator app computes them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time
from dataclasses import dataclass, field
from typing import Any


# -- RFC 6238 TOTP (HMAC-SHA1, 30-second steps, 6 digits) --------------------------------------
def totp(secret: str, at: float | None = None, step_offset: int = 0) -> str:
    """The code an authenticator app shows for base32 ``secret`` at time ``at``."""
    counter = int((time.time() if at is None else at) // 30) + step_offset
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def wrong_totp(secret: str) -> str:
    """A six-digit code that no authenticator for ``secret`` shows now (nor one step away)."""
    valid = {totp(secret, step_offset=d) for d in (-1, 0, 1)}
    candidate = int(totp(secret))
    while f"{candidate:06d}" in valid:
        candidate = (candidate + 1) % 1_000_000
    return f"{candidate:06d}"


@dataclass
class Factor:
    id: str
    factor_type: str  # token:software:totp, sms, email, push, webauthn
    provider: str = "OKTA"
    secret: str | None = None  # base32 TOTP seed

    def public(self, base_url: str) -> dict[str, Any]:
        profile = {"credentialId": "user"} if self.factor_type.startswith("token") else {}
        return {
            "id": self.id, "factorType": self.factor_type, "provider": self.provider,
            "vendorName": self.provider, "profile": profile,
            "_links": {"verify": {"href": f"{base_url}/api/v1/authn/factors/{self.id}/verify",
                                  "hints": {"allow": ["POST"]}}},
        }


@dataclass
class User:
    id: str
    login: str
    password: str
    first_name: str
    last_name: str
    status: str = "ACTIVE"  # ACTIVE, LOCKED_OUT, PASSWORD_EXPIRED, SUSPENDED, DEPROVISIONED
    factors: list[Factor] = field(default_factory=list)
    must_enroll: bool = False  # a sign-on policy wants a factor the user has not enrolled
    password_warn: bool = False  # the password expires soon
    extra_profile: dict[str, Any] = field(default_factory=dict)

    def embedded(self) -> dict[str, Any]:
        """The subset of the user the Authentication API embeds."""
        return {"id": self.id, "passwordChanged": "2024-03-01T09:00:00.000Z", "profile": {
            "login": self.login, "firstName": self.first_name, "lastName": self.last_name,
            "locale": "en_US", "timeZone": "Europe/London"}}

    def full(self) -> dict[str, Any]:
        """The user object of the Users API."""
        profile = {"firstName": self.first_name, "lastName": self.last_name,
                   "mobilePhone": None, "secondEmail": None, "login": self.login,
                   "email": self.login, "locale": "en_US", "timeZone": "Europe/London",
                   **self.extra_profile}
        return {
            "id": self.id, "status": self.status, "created": "2020-01-01T00:00:00.000Z",
            "activated": "2020-01-01T00:00:00.000Z", "statusChanged": None,
            "lastLogin": "2024-03-01T09:00:00.000Z", "lastUpdated": "2024-03-01T09:00:00.000Z",
            "passwordChanged": "2024-03-01T09:00:00.000Z",
            "type": {"id": "oty1fake"}, "profile": profile,
            "credentials": {"password": {}, "provider": {"type": "OKTA", "name": "OKTA"}},
            "_links": {"self": {"href": f"/api/v1/users/{self.id}"}},
        }


@dataclass
class Transaction:
    user: User
    status: str
    expires: float
    sent_code: str | None = None


def default_users() -> list[User]:
    return [
        User("00ualice1865WONDER", "alice@example.com", "wonderland-1865", "Alice", "Liddell",
             extra_profile={"employeeNumber": "E-1865", "displayName": "Alice Liddell"}),
        User("00ulorina1852LOCKD", "lorina@example.com", "locked-door-1852", "Lorina",
             "Liddell", status="LOCKED_OUT"),
        User("00uedith1854EXPIRD", "edith@example.com", "expired-tea-1854", "Edith", "Liddell",
             status="PASSWORD_EXPIRED"),
        User("00uwarren1860WARNS", "warren@example.com", "warn-rabbit-1860", "Warren", "Rabbit",
             password_warn=True),
        User("00umarch1865HATTER", "hatter@example.com", "tea-party-1865", "Mad", "Hatter",
             factors=[Factor("opfpush0HATTER", "push"),
                      Factor("ostftotp0HATTER", "token:software:totp", secret="JBSWY3DPEHPK3PXP")]),
        User("00upush1871PUSHONL", "cheshire@example.com", "grin-only-1871", "Cheshire", "Cat",
             factors=[Factor("opfpush0CHESH", "push"), Factor("fwfwebauthn0CHESH", "webauthn")]),
        User("00usms1865SMSQUEEN", "queen@example.com", "off-with-1865", "Queen", "Hearts",
             factors=[Factor("smsfactor0QUEEN", "sms")]),
        User("00uenroll1865DODO0", "dodo@example.com", "caucus-race-1865", "Dodo", "Bird",
             must_enroll=True),
        User("00udeact1865GONE00", "gryphon@example.com", "mock-turtle-1865", "Gryphon", "Fable",
             status="DEPROVISIONED"),
        User("00uplus1865ESCAPES", "o'hara+tea/party@example.com", "escaped-1865", "Tea", "Party"),
    ]
