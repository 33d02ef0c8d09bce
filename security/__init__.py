"""Cross-cutting protections: request rate limits, per-identifier throttling, the audit log, and
the headers every answer carries (CSP with a per-response ``form-action``, HSTS over https)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, g
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

from security.throttle import FailureThrottle

#: Per-IP request limits (flask-limiter); views opt in with ``@limiter.limit(...)``.
limiter = Limiter(key_func=get_remote_address, default_limits=[])


#: CSRF on every form (Flask-WTF); exemptions are marked where the request carries its own proof.
csrf = CSRFProtect()

#: Two years, subdomains included; sent only when the issuer is https.
HSTS = "max-age=63072000; includeSubDomains"

_CSP = ("default-src 'self'; img-src {img_src}; frame-ancestors 'none'; base-uri 'none'; "
        "object-src 'none'; form-action {form_action}")
_FORM_ACTION = "ferry_form_action"
_IMG_SRC = "ferry_img_src"


def init_app(app: Flask) -> None:
    csrf.init_app(app)
    limiter.init_app(app)
    app.extensions["ferry.throttle"] = FailureThrottle(
        app.config["RATELIMIT_STORAGE_URI"], app.config["FAILED_SIGNINS_PER_IDENTIFIER"]
    )


def drop_needless_limit_check(app: Flask) -> None:
    """Take away flask-limiter's check before every request when no limit needs it (after every
    blueprint is registered).

    Every limit of Ferry is a view's own (``@limiter.limit``), checked by the view's wrapper.
    The hook flask-limiter adds before every request looks for default, application, meta and
    blueprint limits, of which Ferry has none, and cost 0.1 ms a request (a third of a JWKS
    request). Should one of those ever be set, the hook stays.
    """
    manager = limiter.limit_manager
    # flask-limiter has no public name for the last two; tests/security/test_limits.py checks.
    if (manager.default_limits or manager.application_limits or limiter._meta_limits
            or manager._blueprint_limits):
        return
    hooks = app.before_request_funcs.get(None, [])
    if limiter._check_request_limit in hooks:
        hooks.remove(limiter._check_request_limit)


def allow_form_action(url: str) -> None:
    """Let the page of this response post forms to ``url``'s origin, or be redirected there
    after a post.

    CSP ``form-action`` is ``'self'`` alone unless a view widens it for its own response; the
    browser checks the policy of the page holding the form, and Chromium checks every redirect
    that follows the post as well. So a page calls this for each place its form may lead: the
    app's redirect URI after the sign-in form, the IdP behind "Continue with ...", a
    ``form_post`` answer, a post-logout redirect URI. Example::

        security.allow_form_action(client.redirect_uri)   # before rendering the page
        return render_template("consent.html", ...)

    Only the origin (scheme, host, port) is kept; calling it again, for the same origin or
    another, is fine. Anything but an http(s) URL with a host is ignored.
    """
    origin = origin_of(url)
    if origin is None:
        return
    allowed = g.setdefault(_FORM_ACTION, [])
    if origin not in allowed:
        allowed.append(origin)


def allow_image(url: str) -> None:
    """Let the page of this response show images from ``url``'s origin (CSP ``img-src``).

    ``img-src`` is ``'self' data:`` unless a view widens it for its own response, as a
    branding logo given as an https URL does. Example::

        security.allow_image("https://cdn.example.com/acme/logo.svg")
        return render_template("steps/collect.html", ...)

    Only the origin is kept, and only of an https URL (no mixed content); anything else is
    ignored. Calling it again is fine.
    """
    origin = origin_of(url)
    if origin is None or not origin.startswith("https://"):
        return
    allowed = g.setdefault(_IMG_SRC, [])
    if origin not in allowed:
        allowed.append(origin)


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, fit for a CSP source list; None otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    if not all(c.isalnum() or c in ".-:" for c in host):
        return None  # nothing that could end a CSP source (quotes, spaces, semicolons)
    if ":" in host:
        host = f"[{host}]"  # IPv6
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def secure_headers(response):
    """Headers every Ferry answer carries: no framing (clickjacking), no sniffing, no leaks,
    forms only to Ferry and where this response allowed (:func:`allow_form_action`), images
    from Ferry and where this response allowed (:func:`allow_image`), and
    HSTS when Ferry is served over https."""
    form_action = " ".join(["'self'", *g.get(_FORM_ACTION, [])])
    img_src = " ".join(["'self'", "data:", *g.get(_IMG_SRC, [])])
    response.headers.setdefault("Content-Security-Policy",
                                _CSP.format(form_action=form_action, img_src=img_src))
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if current_app.config["ISSUER"].startswith("https://"):
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response
