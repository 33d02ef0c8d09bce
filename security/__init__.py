"""Cross-cutting protections: request rate limits, per-identifier throttling, the audit log."""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

from security.throttle import FailureThrottle

#: Per-IP request limits (flask-limiter); views opt in with ``@limiter.limit(...)``.
limiter = Limiter(key_func=get_remote_address, default_limits=[])


#: CSRF on every form (Flask-WTF); exemptions are marked where the request carries its own proof.
csrf = CSRFProtect()


def init_app(app: Flask) -> None:
    csrf.init_app(app)
    limiter.init_app(app)
    app.extensions["ferry.throttle"] = FailureThrottle(
        app.config["RATELIMIT_STORAGE_URI"], app.config["FAILED_SIGNINS_PER_IDENTIFIER"]
    )


def secure_headers(response):
    """Headers every Ferry answer carries: no framing (clickjacking), no sniffing, no leaks."""
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
        "object-src 'none'",
    )
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response
