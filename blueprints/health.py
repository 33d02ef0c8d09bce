"""Health checks for load balancers and orchestrators.

* ``GET /healthz``: the process is up and answering. Nothing else is consulted, so a database
  outage never makes an orchestrator restart every Ferry for nothing. 200 ``{"status": "ok"}``.
* ``GET /readyz``: this server can serve sign-ins: the database answers a trivial query, Redis
  answers a PING when ``ratelimit_storage_uri`` names one, and an active signing key exists.
  200 when all pass, else 503; the body names each check's result. One small query, one PING.

Both are answered ahead of every other before-request hook (the database connection, the
session, rate limits, the back-channel resume on a process's first request), so each does only
its own work, and neither is ever cached. A failing check names no host or error in the answer
(``/readyz`` is often reachable from outside); the reason goes to the log.
"""

from __future__ import annotations

import logging

import peewee
from flask import Blueprint, Flask, current_app, jsonify, request
from limits.storage import Storage, storage_from_string

from models import SigningKey, db

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)

#: Seconds the Redis PING may take, connecting included.
REDIS_TIMEOUT = 1.0
_REDIS_SCHEMES = ("redis", "rediss", "redis+unix", "valkey", "valkeys", "valkey+unix")


@bp.get("/healthz")
def healthz():
    """Alive: the process answers."""
    return _answer({"status": "ok"}, 200)


@bp.get("/readyz")
def readyz():
    """Ready: database, Redis (when configured) and an active signing key; 200 or 503."""
    checks = _database_and_signing_key()
    checks["redis"] = _redis()
    failed = [name for name, result in checks.items() if result in ("unavailable", "missing")]
    if failed:
        return _answer({"status": "unavailable", "failed": failed, "checks": checks}, 503)
    return _answer({"status": "ready", "checks": checks}, 200)


def _database_and_signing_key() -> dict[str, str]:
    """One query proves both: the database answers, and it holds an active signing key."""
    try:
        with db.connection_context():
            found = SigningKey.select().where(SigningKey.active).exists()
    except (peewee.DatabaseError, peewee.InterfaceError, ValueError) as error:
        # ValueError: playhouse's MaxConnectionsExceeded (every pooled connection lent out).
        log.warning("readyz: database unavailable (%s): %s", type(error).__name__,
                    (str(error).strip().splitlines() or [""])[0])
        return {"database": "unavailable", "signing_key": "unknown"}
    return {"database": "ok", "signing_key": "ok" if found else "missing"}


def _redis() -> str:
    storage = _redis_storage(current_app)
    if storage is None:
        return "not configured"
    if storage.check():  # PING; False on any error
        return "ok"
    log.warning("readyz: Redis at ratelimit_storage_uri does not answer PING")
    return "unavailable"


def _redis_storage(app: Flask) -> Storage | None:
    """This app's own client for the rate-limit storage, made once; None for memory://."""
    key = "ferry.health.redis"
    if key not in app.extensions:
        uri = app.config["RATELIMIT_STORAGE_URI"]
        scheme = uri.partition("://")[0]
        if scheme == "memory":
            app.extensions[key] = None
        elif scheme in _REDIS_SCHEMES:
            app.extensions[key] = storage_from_string(
                uri, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT)
        else:  # sentinel, cluster: their own options; limits' defaults
            app.extensions[key] = storage_from_string(uri)
    return app.extensions[key]


def _answer(body: dict, status: int):
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Register the blueprint, and answer its two URLs before any other hook runs."""
    app.register_blueprint(bp)
    views = {f"{bp.name}.{name}": view for name, view in (("healthz", healthz), ("readyz", readyz))}

    def _answer_health_checks_first():
        view = views.get(request.endpoint or "")
        return view() if view else None  # a response ends before-request processing here

    app.before_request_funcs.setdefault(None, []).insert(0, _answer_health_checks_first)
