"""A demo *legacy IDP*: the identity provider that Ferry migrates users away from.

It is a small but honest OAuth 2.0 server built from authlib's server parts:

- ``POST /oauth/token`` with the resource owner password credentials grant (RFC 6749, 4.3).
  The client authenticates with HTTP Basic or ``client_secret_post``. A wrong password and an
  unknown user get the same ``invalid_grant`` answer (and cost the same argon2 work), so the
  endpoint does not tell which e-mail addresses exist.
- ``GET /userinfo`` with a Bearer access token (RFC 6750), answering OpenID-style claims.
- ``GET /`` an HTML page listing the demo users and how often this IDP checked each password,
  so a newcomer sees that a migrated user no longer reaches it.

Users, clients and tokens live in memory; the password hashes are computed at start. Run it with
``python -m flask --app demo.legacy_idp:create_app run --port 5001`` (``demo.run`` does that).

authlib quirk worth knowing: its password grant answers ``invalid_request`` when
``authenticate_user`` returns ``None``; RFC 6749 (5.2) wants ``invalid_grant`` for bad resource
owner credentials, so :meth:`DemoPasswordGrant.authenticate_user` raises that itself.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector, current_token
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, MissingAuthorizationError
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import Flask, Response, abort, current_app, jsonify, render_template

logger = logging.getLogger(__name__)

#: The demo users: (e-mail, password, given name, family name). Plain passwords on purpose:
#: the launcher prints them and the home page lists them. Hashes are made at start.
DEMO_USERS: tuple[tuple[str, str, str, str], ...] = (
    ("alice@example.com", "wonderland-1865", "Alice", "Liddell"),
    ("bob@example.com", "builder-1999", "Bob", "Builder"),
    ("carol@example.com", "carol-singer-42", "Carol", "King"),
)

DEFAULT_CLIENT_ID = "ferry"
DEFAULT_CLIENT_SECRET = "demo-legacy-secret"
SUPPORTED_SCOPES = ("openid", "email", "profile")
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

    def get_user_id(self) -> str:
        """authlib calls this to put the resource owner into the token."""
        return self.sub

    def claims(self) -> dict[str, Any]:
        """What ``/userinfo`` answers for this user."""
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
    """A confidential OAuth client allowed to use the password grant (Ferry is one)."""

    client_id: str
    client_secret: str

    # -- authlib ClientMixin ------------------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        return " ".join(s for s in scope.split() if s in SUPPORTED_SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret.encode(), self.client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in DemoPasswordGrant.TOKEN_ENDPOINT_AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == DemoPasswordGrant.GRANT_TYPE


@dataclass
class IssuedToken:
    """A Bearer access token held in memory (authlib's TokenMixin)."""

    access_token: str
    client_id: str
    sub: str
    scope: str
    issued_at: float
    expires_in: int

    def check_client(self, client: LegacyClient) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
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

    def save_token(self, token: Mapping[str, Any], client: LegacyClient, user: LegacyUser) -> None:
        now = time.time()
        issued = IssuedToken(
            access_token=token["access_token"],
            client_id=client.client_id,
            sub=user.sub,
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
        with self.lock:
            return self.tokens.get(access_token)

    def user_by_sub(self, sub: str) -> LegacyUser | None:
        return next((u for u in self.users.values() if u.sub == sub), None)


class BearerProtector(ResourceProtector):
    """authlib's protector, answering a request without credentials as RFC 6750 (3.1) says:
    401 with a bare ``WWW-Authenticate: Bearer realm=...`` and no error code (authlib would
    send a non-standard ``missing_authorization`` error)."""

    def raise_error_response(self, error: Exception) -> None:
        if isinstance(error, MissingAuthorizationError):
            abort(Response(status=401, headers={"WWW-Authenticate": 'Bearer realm="legacy-idp"'}))
        super().raise_error_response(error)


class DemoPasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):
    """The password grant, checking passwords against the in-memory argon2 hashes."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def authenticate_user(self, username: str, password: str) -> LegacyUser:
        store: LegacyStore = current_app.extensions["demo_legacy_idp"]
        user = store.check_password(username, password)
        if user is None:
            # Not the username: people type passwords into the wrong field.
            logger.info("password grant rejected (wrong password or unknown user)")
            # One description for both cases: no hint whether the e-mail exists.
            raise InvalidGrantError("Invalid username or password.")
        logger.info("password grant accepted for %s", user.email)
        return user


class StoreTokenValidator(BearerTokenValidator):
    """Looks Bearer tokens up in the in-memory store."""

    def __init__(self, store: LegacyStore) -> None:
        super().__init__()
        self.store = store

    def authenticate_token(self, token_string: str) -> IssuedToken | None:
        return self.store.find_token(token_string)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the legacy IDP. ``test_config`` may set ``DEMO_IDP_CLIENT_ID`` / ``_SECRET``."""
    app = Flask(__name__)
    app.config.from_mapping(
        SECRET_KEY=os.environ.get("DEMO_IDP_SECRET_KEY") or secrets.token_hex(32),
        SESSION_COOKIE_NAME="demo_idp_session",
        DEMO_IDP_CLIENT_ID=DEFAULT_CLIENT_ID,
        DEMO_IDP_CLIENT_SECRET=DEFAULT_CLIENT_SECRET,
        OAUTH2_SCOPES_SUPPORTED=list(SUPPORTED_SCOPES),
        OAUTH2_TOKEN_EXPIRES_IN={DemoPasswordGrant.GRANT_TYPE: TOKEN_LIFETIME},
    )
    if test_config:
        app.config.from_mapping(test_config)

    store = LegacyStore.with_demo_users(
        app.config["DEMO_IDP_CLIENT_ID"], app.config["DEMO_IDP_CLIENT_SECRET"]
    )
    app.extensions["demo_legacy_idp"] = store
    app.add_template_filter(lambda ts: time.strftime("%H:%M:%S", time.localtime(ts)), "clock")

    server = AuthorizationServer(
        app,
        query_client=store.clients.get,
        save_token=lambda token, request: store.save_token(token, request.client, request.user),
    )
    server.register_grant(DemoPasswordGrant)

    require_oauth = BearerProtector()
    require_oauth.register_token_validator(StoreTokenValidator(store))

    @app.post("/oauth/token")
    def issue_token() -> Response:
        return server.create_token_response()

    @app.get("/userinfo")
    @require_oauth()
    def userinfo() -> Response:
        user = store.user_by_sub(current_token.sub)
        if user is None:  # cannot happen while users are never deleted; answer like RFC 6750
            return Response(
                status=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        return jsonify(user.claims())

    @app.get("/")
    def home() -> str:
        return render_template(
            "legacy_idp/home.html",
            users=list(store.users.values()),
            passwords={normalise_username(email): pw for email, pw, *_ in DEMO_USERS},
            rejected_attempts=store.rejected_attempts,
            pid=os.getpid(),
        )

    return app
