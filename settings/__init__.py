"""Ferry's configuration, in layers.

1. documented defaults (:class:`settings.server.ServerSettings`),
2. the configuration file: TOML at ``FERRY_CONFIG``, by default ``ferry.toml`` in the instance
   folder; its ``[ferry]`` table holds server settings, its ``[connectors.*]``, ``[journeys.*]``,
   ``[apps.*]`` and ``[schema]`` tables describe the deployment,
3. ``FERRY_*`` environment variables (``FERRY_DATABASE_URL`` overrides ``database_url``),
4. the ``test_config`` mapping given to ``create_app``.

Everything is validated at start-up; :class:`ConfigError` lists every problem at once so an
operator fixes a file in one go instead of one restart per typo.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

from flask import Flask

from settings.errors import ConfigError
from settings.file import Deployment, read_config_file
from settings.server import ServerSettings, settings_from_env

__all__ = ["ConfigError", "Deployment", "init_app", "deployment"]


def init_app(app: Flask, test_config: dict[str, Any] | None = None) -> None:
    """Load every layer into ``app.config`` and the deployment tables into ``app.extensions``."""
    test_config = dict(test_config or {})
    path = _config_path(app, test_config)
    file_settings, deployment = read_config_file(path, required="FERRY_CONFIG" in os.environ)

    layered: dict[str, Any] = {}
    layered.update(file_settings)
    layered.update(settings_from_env(os.environ))
    deployment_override = test_config.pop("DEPLOYMENT", None)
    # Test config keys that name a Ferry setting are validated with the others; the rest
    # (TESTING, WTF_CSRF_ENABLED...) are Flask's or an extension's and pass straight through.
    known = set(ServerSettings.model_fields)
    layered.update({k.lower(): v for k, v in test_config.items() if k.lower() in known})
    passthrough = {k: v for k, v in test_config.items() if k.lower() not in known}
    layered.setdefault("database_url", f"sqlite:///{Path(app.instance_path) / 'ferry.db'}")
    if not layered.get("secret_key"):
        layered["secret_key"] = _instance_secret_key(app)

    server = ServerSettings.validated(layered)
    app.config.update({key.upper(): value for key, value in server.model_dump().items()})
    app.config["FERRY_CONFIG_PATH"] = str(path) if path else None
    _flask_settings(app, server)
    app.config.update(passthrough)

    if deployment_override is not None:
        deployment = Deployment.from_tables(deployment_override, source="test_config")
    app.extensions["ferry.deployment"] = deployment


def deployment(app: Flask) -> Deployment:
    """The validated ``[connectors]``, ``[journeys]``, ``[apps]`` and ``[schema]`` tables."""
    return app.extensions["ferry.deployment"]


def _config_path(app: Flask, test_config: dict[str, Any]) -> Path | None:
    if "CONFIG_FILE" in test_config:
        value = test_config.pop("CONFIG_FILE")
        return Path(value) if value else None
    if os.environ.get("FERRY_CONFIG"):
        return Path(os.environ["FERRY_CONFIG"])
    return Path(app.instance_path) / "ferry.toml"


def _instance_secret_key(app: Flask) -> str:
    """A per-instance random key, created once; production deployments set FERRY_SECRET_KEY.

    Written to a temporary file and linked into place, so workers starting together all read
    the same complete key.
    """
    path = Path(app.instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret_key-")
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another worker won; use its key
        finally:
            os.unlink(temporary)
    return path.read_text().strip()


def _flask_settings(app: Flask, server: ServerSettings) -> None:
    """Translate Ferry's settings into the names Flask and its extensions read.

    Over https the session cookie is a ``__Host-`` cookie (Secure, ``Path=/``, no ``Domain``):
    the browser then refuses it from a sibling subdomain or over plain http, so nobody can
    plant one in a user's browser that way (session fixation).
    """
    secure = server.issuer.startswith("https://")
    cookie_name = server.session_cookie_name
    if secure and not cookie_name.startswith("__Host-"):
        cookie_name = "__Host-" + cookie_name
    app.config.update(
        SECRET_KEY=server.secret_key,
        SESSION_COOKIE_NAME=cookie_name,
        SESSION_COOKIE_DOMAIN=None,
        SESSION_COOKIE_PATH="/",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        PERMANENT_SESSION_LIFETIME=server.session_lifetime,
        MAX_CONTENT_LENGTH=server.max_request_bytes,
        WTF_CSRF_TIME_LIMIT=server.journey_ttl,
        # Flask-WTF's https check wants a Referer on every post, which Ferry's pages never
        # send (Referrer-Policy: no-referrer). It guards against a token planted through a
        # cookie from http or a sibling domain; the __Host- cookie above rules that out.
        WTF_CSRF_SSL_STRICT=False,
        PREFERRED_URL_SCHEME="https" if secure else "http",
        RATELIMIT_STORAGE_URI=server.ratelimit_storage_uri,
        RATELIMIT_HEADERS_ENABLED=True,
        # Absolute, so the catalogues are found whatever the working directory (compiled by
        # `make setup`; see babel.cfg). A test config may name its own folder.
        BABEL_TRANSLATION_DIRECTORIES=str(Path(app.root_path) / "translations"),
        **_limiter_fallback(server.ratelimit_storage_uri),
    )


#: Seconds flask-limiter waits for Redis (connecting, then answering) before counting it down.
REDIS_CONNECT_TIMEOUT, REDIS_TIMEOUT = 1.0, 2.0
_REDIS_SCHEMES = ("redis", "rediss", "redis+unix", "valkey", "valkeys", "valkey+unix")


def _limiter_fallback(storage_uri: str) -> dict[str, Any]:
    """Per-IP request limits that outlive Redis.

    When Redis stops answering, flask-limiter counts in this process's memory instead (each
    worker on its own, so a client gets up to workers x servers times its limit), logs
    "Rate limit storage unreachable - falling back to in-memory storage" once per process, checks
    Redis again now and then with a growing pause, and goes back to it (logging "Rate limit
    storage recovered" at INFO) once it answers. Without the timeouts a Redis whose machine is
    gone would hold every request for the kernel's TCP timeout instead of failing over.
    """
    # flask-limiter gives its logger a NullHandler, which stops Python's last-resort handler:
    # without this its warnings would vanish where Ferry's own reach stderr.
    limiter_log = logging.getLogger("flask-limiter")
    for handler in list(limiter_log.handlers):
        if isinstance(handler, logging.NullHandler):
            limiter_log.removeHandler(handler)
    settings: dict[str, Any] = {"RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True}
    if storage_uri.partition("://")[0] in _REDIS_SCHEMES:
        settings["RATELIMIT_STORAGE_OPTIONS"] = {"socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
                                                 "socket_timeout": REDIS_TIMEOUT}
    return settings
