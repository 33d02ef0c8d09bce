"""Known devices: browsers that have signed in as an identifier before.

After a sign-in proves who the user is (a password, a one-time code, the legacy IDP's own
code), Ferry sets a long-lived cookie, signed with ``secret_key``, that names a random device
id and the identifiers this browser signed in as (keyed digests, never the addresses, at most
:data:`MAX_IDENTIFIERS`). Its one use is the one-time-code budget
(:class:`security.throttle.SendBudget`): such a browser sends codes to that identifier from a
budget of its own, which a send storm from other browsers cannot spend. The cookie proves
nothing about the user and signs nobody in; without it (another browser, cookies cleared) a
user simply shares the identifier's budget with everyone else.

``known_device_lifetime`` (seconds, default 180 days; ``0``: no such cookie) bounds it; each
sign-in renews it. Over https it is a ``__Host-`` cookie (Secure, ``Path=/``, no ``Domain``),
always HttpOnly and SameSite=Lax.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import after_this_request, current_app, g, has_request_context, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "ferry_device"
#: Identifiers one browser is remembered for (a family computer); the oldest drops out.
MAX_IDENTIFIERS = 5
_SALT = "ferry.known-device"
_PENDING = "ferry_known_device"


def _lifetime() -> int:
    return int(current_app.config.get("KNOWN_DEVICE_LIFETIME", 0))


def _cookie_name() -> str:
    secure = current_app.config["ISSUER"].startswith("https://")
    return f"__Host-{COOKIE}" if secure else COOKIE


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def _digest(identifier: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{_SALT}\0{identifier}".encode(), hashlib.sha256).hexdigest()[:32]


def _read() -> dict | None:
    if not has_request_context() or _lifetime() <= 0:
        return None
    value = request.cookies.get(_cookie_name())
    if not value:
        return None
    try:
        data = _serializer().loads(value, max_age=_lifetime())
    except BadSignature:  # forged, altered, expired, or signed with an older key
        return None
    if not (isinstance(data, dict) and isinstance(data.get("d"), str)
            and isinstance(data.get("i"), list)):
        return None
    return data


def device_for(identifier: str) -> str | None:
    """This browser's device id if it signed in as ``identifier`` before, else None."""
    data = _read()
    if data is None or _digest(identifier) not in data["i"]:
        return None
    return data["d"]


def remember(identifier: str) -> None:
    """This browser just proved ``identifier``: remember it when the response goes out.

    Does nothing outside a request, or when ``known_device_lifetime`` is 0.
    """
    if not has_request_context() or _lifetime() <= 0 or not identifier:
        return
    pending = g.get(_PENDING)
    if pending is not None:
        pending.append(identifier)
        return
    g.setdefault(_PENDING, [identifier])
    after_this_request(_set_cookie)


def _set_cookie(response):
    data = _read() or {"d": secrets.token_urlsafe(16), "i": []}
    known = [d for d in data["i"] if isinstance(d, str)]
    for identifier in g.get(_PENDING, []):
        digest = _digest(identifier)
        known = [d for d in known if d != digest] + [digest]
    data["i"] = known[-MAX_IDENTIFIERS:]
    secure = current_app.config["ISSUER"].startswith("https://")
    response.set_cookie(_cookie_name(), _serializer().dumps(data), max_age=_lifetime(),
                        path="/", secure=secure, httponly=True, samesite="Lax")
    return response
