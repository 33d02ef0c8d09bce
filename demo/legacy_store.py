"""What the demo legacy IDP knows: its users, its one client and the tokens it issued, in memory.

:mod:`demo.legacy_idp` serves it over HTTP. The classes here are authlib's model mixins written
by hand (``ClientMixin``, ``TokenMixin``), with no database: a restart forgets every token, as a
legacy IDP with an in-memory token store would, which is why Ferry's lookup asks again with a
new token when an old one is refused.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

#: The demo users: (e-mail, password, given name, family name). Plain passwords on purpose:
#: the launcher prints them and the home page lists them. Hashes are made at start.
DEMO_USERS: tuple[tuple[str, str, str, str], ...] = (
    ("alice@example.com", "wonderland-1865", "Alice", "Liddell"),
    ("bob@example.com", "builder-1999", "Bob", "Builder"),
    ("carol@example.com", "carol-singer-42", "Carol", "King"),
)

DEFAULT_CLIENT_ID = "ferry"
DEFAULT_CLIENT_SECRET = "demo-legacy-secret"
#: Scopes of a user's token (password grant).
USER_SCOPES = ("openid", "email", "profile")
#: The scope of the user lookup (``GET /api/users``); only the client-credentials grant gets it.
LOOKUP_SCOPE = "users.read"
SUPPORTED_SCOPES = (*USER_SCOPES, LOOKUP_SCOPE)
GRANT_TYPES = ("password", "client_credentials")
TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
TOKEN_LIFETIME = 3600


def normalise_username(username: str) -> str:
    """The one rule for turning what someone typed into a lookup key: trim, then lower-case."""
    return username.strip().lower()


@dataclass
class LegacyUser:
    """A user of the legacy IDP, with the claims its userinfo endpoint answers."""

    sub: str
    email: str
    given_name: str
    family_name: str
    password_hash: str
    email_verified: bool = True
    password_checks: int = 0
    last_checked: float | None = None
    lookups: int = 0

    def get_user_id(self) -> str:
        """authlib calls this to put the resource owner into the token."""
        return self.sub

    def claims(self) -> dict[str, Any]:
        """What ``/userinfo`` (and the lookup) answers for this user."""
        return {
            "sub": self.sub,
            "email": self.email,
            "email_verified": self.email_verified,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "name": f"{self.given_name} {self.family_name}",
        }


@dataclass(frozen=True)
class LegacyClient:
    """A confidential OAuth client allowed the password and client-credentials grants (Ferry)."""

    client_id: str
    client_secret: str

    # -- authlib ClientMixin ------------------------------------------------------------------
    def get_client_id(self) -> str:
        """authlib: the client's id."""
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        """authlib: no redirect-based grant here."""
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        """authlib: the known scopes among those asked for (the grants check the rest)."""
        if not scope:
            return ""
        return " ".join(s for s in scope.split() if s in SUPPORTED_SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """authlib: no redirect URI is ever right."""
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        """authlib: the secret, compared in constant time."""
        return hmac.compare_digest(client_secret.encode(), self.client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """authlib: HTTP Basic or the form body, at the token endpoint."""
        return endpoint == "token" and method in TOKEN_ENDPOINT_AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        """authlib: no authorization endpoint."""
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        """authlib: the password grant, and the client-credentials grant for lookups."""
        return grant_type in GRANT_TYPES


@dataclass
class IssuedToken:
    """A Bearer access token held in memory (authlib's TokenMixin); ``sub`` is None for a
    token of the client itself (client-credentials grant)."""

    access_token: str
    client_id: str
    sub: str | None
    scope: str
    issued_at: float
    expires_in: int

    def check_client(self, client: LegacyClient) -> bool:
        """authlib: whether ``client`` owns the token."""
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        """authlib: the scopes granted."""
        return self.scope

    def get_expires_in(self) -> int:
        """authlib: its lifetime in seconds."""
        return self.expires_in

    def is_expired(self) -> bool:
        """authlib: whether its lifetime is over."""
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        """authlib: never revoked (a restart forgets them all instead)."""
        return False


@dataclass
class LegacyStore:
    """Everything the legacy IDP knows, in memory, guarded by one lock."""

    users: dict[str, LegacyUser]
    clients: dict[str, LegacyClient]
    hasher: PasswordHasher
    #: A hash of a random secret, verified when the user is unknown so that an unknown e-mail
    #: costs the same argon2 work as a wrong password.
    decoy_hash: str
    tokens: dict[str, IssuedToken] = field(default_factory=dict)
    rejected_attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def with_demo_users(cls, client_id: str, client_secret: str) -> LegacyStore:
        """Hash the demo users' passwords (this is the slow part of start-up: ~50 ms each)."""
        hasher = PasswordHasher()
        users = {}
        for number, (email, password, given, family) in enumerate(DEMO_USERS, start=1001):
            users[normalise_username(email)] = LegacyUser(
                sub=f"legacy-{number}",
                email=email,
                given_name=given,
                family_name=family,
                password_hash=hasher.hash(password),
            )
        return cls(
            users=users,
            clients={client_id: LegacyClient(client_id, client_secret)},
            hasher=hasher,
            decoy_hash=hasher.hash(secrets.token_urlsafe(16)),
        )

    def check_password(self, username: str, password: str) -> LegacyUser | None:
        """The user if ``password`` is theirs; ``None`` for a wrong password or an unknown user."""
        user = self.users.get(normalise_username(username))
        try:
            self.hasher.verify(user.password_hash if user else self.decoy_hash, password)
        except VerificationError:
            user_ok = False
        else:
            user_ok = user is not None
        with self.lock:
            if user_ok and user is not None:  # (user_ok implies a user; this says so to mypy)
                user.password_checks += 1
                user.last_checked = time.time()
                return user
            self.rejected_attempts += 1
        return None

    def look_up(self, email: str) -> LegacyUser | None:
        """The user with this e-mail address (case aside), counted; ``None`` when unknown."""
        user = self.users.get(normalise_username(email))
        if user is not None:
            with self.lock:
                user.lookups += 1
        return user

    def save_token(self, token: Mapping[str, Any], client: LegacyClient,
                   user: LegacyUser | None) -> None:
        """Keep an issued token (of ``user``, or of the client itself when None)."""
        now = time.time()
        issued = IssuedToken(
            access_token=token["access_token"],
            client_id=client.client_id,
            sub=user.sub if user else None,
            scope=token.get("scope", ""),
            issued_at=now,
            expires_in=int(token.get("expires_in", TOKEN_LIFETIME)),
        )
        with self.lock:
            # Drop expired tokens as we go, so a long-running demo does not grow without bound.
            for key in [k for k, t in self.tokens.items() if t.is_expired()]:
                del self.tokens[key]
            self.tokens[issued.access_token] = issued

    def find_token(self, access_token: str) -> IssuedToken | None:
        """The token issued under this string, if any."""
        with self.lock:
            return self.tokens.get(access_token)

    def user_by_sub(self, sub: str | None) -> LegacyUser | None:
        """The user a token belongs to; None for a client's own token."""
        if sub is None:
            return None
        return next((u for u in self.users.values() if u.sub == sub), None)
