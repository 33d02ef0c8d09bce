"""Registered apps (OAuth clients): the object authlib asks about them, and keeping the
``oauth_client`` table in step with the configuration file.

``[apps.<client_id>]`` tables are validated (:mod:`provider.app_settings`) at start-up and written
to the ``oauth_client`` table, which is what the provider reads (the admin portal will add rows of
its own).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin, scope_to_list
from flask import Flask, current_app, g, has_app_context, has_request_context
from peewee import PostgresqlDatabase
from pydantic import ValidationError

from models import OAuthClient, db, fast, utcnow
from provider import keys
from provider.app_settings import STANDARD_SCOPES, AppSettings, check_redirect_uri
from security.sealing import seal, unseal
from settings.errors import ConfigError, pydantic_problems

__all__ = ["AppSettings", "Client", "STANDARD_SCOPES", "check_redirect_uri", "find", "sync_config_apps",
           "validate_apps"]

#: PostgreSQL advisory lock that queues servers writing the configured apps at start-up.
_SYNC_LOCK_ID = 0x41707073  # "Apps"

#: Longest client_id looked up; longer ones (and any with control characters) are unknown.
MAX_CLIENT_ID = 100


def hash_secret(secret: str) -> str:
    """Client secrets are long random strings, so a fast hash suffices (no dictionary to try)."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()


class Client(ClientMixin):
    """An app as authlib sees it, backed by an ``oauth_client`` row."""

    def __init__(self, row: OAuthClient) -> None:
        self.row = row
        self.client_id = row.client_id
        self.client_metadata = {"post_logout_redirect_uris": list(row.post_logout_redirect_uris)}

    @property
    def auth_method(self) -> str:
        """How this app authenticates at the token endpoint."""
        return self.setting("auth_method", "none" if self.row.secret_hash is None else "client_secret_basic")

    @property
    def is_public(self) -> bool:
        return self.auth_method == "none"

    @property
    def name(self) -> str:
        return self.row.name

    @property
    def grant_types(self) -> list[str]:
        return list(self.setting("grant_types", ["authorization_code"]))

    @property
    def consent_required(self) -> bool:
        return self.setting("consent", "implicit") == "required"

    @property
    def id_token_alg(self) -> str:
        """How this app's ID tokens and logout tokens are signed (``RS256`` unless it asked)."""
        return self.setting("id_token_signed_response_alg", keys.ALGORITHM)

    @property
    def signup(self) -> bool:
        """Whether the app lets people create accounts (``prompt=create``, the sign-in link)."""
        return bool(self.setting("signup", True))

    def setting(self, name: str, default: Any) -> Any:
        """A per-app setting of the row, or ``default`` when the app left it out."""
        value = (self.row.settings or {}).get(name)
        return default if value is None else value

    def scope_claims(self) -> dict[str, list[str]]:
        """Custom scope -> the custom attributes it releases."""
        return dict(self.setting("scope_claims", {}))

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # OpenID Connect: the request must name its redirect_uri

    def get_allowed_scope(self, scope: str) -> str:
        allowed = set(self.row.scopes)
        return " ".join(s for s in dict.fromkeys(scope_to_list(scope) or []) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.row.redirect_uris  # exact match, character for character

    def check_client_secret(self, client_secret: str) -> bool:
        if self.row.secret_hash is None or not isinstance(client_secret, str):
            return False
        return hmac.compare_digest(self.row.secret_hash, hash_secret(client_secret))

    def client_secret(self) -> str | None:
        """The plaintext secret of a ``client_secret_jwt`` app (to check its HMAC assertions)."""
        sealed = self.setting("secret_sealed", None)
        return unseal(sealed) if sealed else None

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


#: How long a server keeps an app it read (seconds). Apps change only with the configuration:
#: the server that saves a change forgets at once, every other one within this plus the store's
#: one-second check (``store/live.py``), so a deleted app or a rotated secret outlives its
#: change there by at most about two seconds. Unknown ids are never kept (no memory to fill).
CACHE_SECONDS = 1.0
_CACHE = "ferry.clients_cache"


def find(client_id: str | None) -> Client | None:
    """The registered app ``client_id``, or None (also for ids no app could have)."""
    if not client_id or not isinstance(client_id, str) or len(client_id) > MAX_CLIENT_ID:
        return None
    if not client_id.isprintable():  # NUL and other controls: PostgreSQL refuses NUL outright
        return None
    if not has_request_context():
        row = fast.get(OAuthClient, client_id=client_id)
        return Client(row) if row else None
    memo = g.setdefault("ferry_clients", {})
    if client_id not in memo:  # one look per request: authorize, the page, the token all ask
        memo[client_id] = _kept(client_id)
    return memo[client_id]


def _kept(client_id: str) -> Client | None:
    """The app from this server's short-lived copy, read afresh when older than CACHE_SECONDS."""
    kept: dict[str, tuple[Client, float]] = current_app.extensions.setdefault(_CACHE, {})
    now = time.monotonic()
    entry = kept.get(client_id)
    if entry is not None and now - entry[1] < CACHE_SECONDS:
        return entry[0]
    row = fast.get(OAuthClient, client_id=client_id)
    if row is None:
        kept.pop(client_id, None)
        return None
    client = Client(row)
    kept[client_id] = (client, now)
    return client


def forget_cached(app: Flask | None = None) -> None:
    """Forget the apps read so far (this request's and this server's, or ``app``'s): they
    just changed."""
    if app is not None:
        app.extensions.pop(_CACHE, None)
    elif has_app_context():
        current_app.extensions.pop(_CACHE, None)
    if has_request_context():
        g.pop("ferry_clients", None)


def validate_apps(tables: dict[str, dict], journeys: set[str]) -> dict[str, AppSettings]:
    """Every ``[apps.*]`` table validated, or a ConfigError listing every problem."""
    apps, problems = {}, []
    for client_id, table in tables.items():
        if not client_id.isprintable() or len(client_id) > MAX_CLIENT_ID or not client_id.strip():
            problems.append(f"apps.{client_id!r}: a client_id is 1-{MAX_CLIENT_ID} printable characters")
            continue
        try:
            app_settings = AppSettings(**table)
        except ValidationError as error:
            problems.extend(pydantic_problems(error, f"apps.{client_id}"))
            continue
        if app_settings.journey and app_settings.journey not in journeys:
            problems.append(f"apps.{client_id}.journey: no journey named {app_settings.journey!r}")
        apps[client_id] = app_settings
    if problems:
        raise ConfigError(problems, "apps")
    return apps


def row_values(client_id: str, app_settings: AppSettings, default_journey: str,
               secret_key: str) -> dict[str, Any]:
    """The ``oauth_client`` columns for ``app_settings`` (secrets hashed or sealed)."""
    method = app_settings.auth_method
    secret = app_settings.client_secret
    per_app = {k: getattr(app_settings, k) for k in (
        "code_ttl", "access_token_ttl", "id_token_ttl", "refresh_token_ttl", "refresh_token_idle_ttl",
        "jwks", "jwks_uri", "backchannel_logout_uri", "signup", "default_locale",
        "id_token_signed_response_alg")}
    per_app.update(auth_method=method, grant_types=list(app_settings.grant_types),
                   consent=app_settings.consent, scope_claims=dict(app_settings.scope_claims))
    if app_settings.branding is not None:  # only the keys the app set: the rest is the deployment's
        per_app["branding"] = app_settings.branding.model_dump(exclude_unset=True)
    if method == "client_secret_jwt" and secret:
        per_app["secret_sealed"] = seal(secret, secret_key)
    return {
        "name": app_settings.name or client_id,
        "secret_hash": hash_secret(secret) if secret else None,
        "redirect_uris": app_settings.redirect_uris,
        "post_logout_redirect_uris": app_settings.post_logout_redirect_uris,
        "scopes": app_settings.allowed_scopes(),
        "journey": app_settings.journey or default_journey,
        "theme": app_settings.theme,
        "settings": per_app,
        "source": "config",
        "updated_at": utcnow(),
    }


def sync_config_apps(apps: dict[str, AppSettings], default_journey: str, secret_key: str) -> None:
    """Make the ``oauth_client`` rows that came from the file match the file.

    Every server does this as it starts, often several at once: one at a time, or two that
    both find no row would both insert it and one would die of a duplicate key (and gunicorn
    then stops the whole server). SQLite's write transactions begin IMMEDIATE, which queues
    them; PostgreSQL queues them on an advisory lock held until the transaction ends.
    """
    with db.atomic():
        if isinstance(db.obj, PostgresqlDatabase):
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_SYNC_LOCK_ID,))
        for client_id, app_settings in apps.items():
            values = row_values(client_id, app_settings, default_journey, secret_key)
            updated = OAuthClient.update(**values).where(OAuthClient.client_id == client_id).execute()
            if not updated:
                OAuthClient.create(client_id=client_id, **values)
        OAuthClient.delete().where(
            (OAuthClient.source == "config") & OAuthClient.client_id.not_in(list(apps) or [""])
        ).execute()
    forget_cached()
