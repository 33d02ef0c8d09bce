"""Two session cookies in one app: the end users' and the admin portal's.

Everything under ``/admin`` reads and writes its own cookie (``<session_cookie_name>_admin``,
``Path=/admin``; ``__Host-`` is impossible with a path, so over https it is ``__Secure-``),
so a signed-in end user is nobody in the portal, an admin is nobody on the sign-in pages, and
each side has its own CSRF token (Flask-WTF keeps it in the session).
"""

from __future__ import annotations

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface

PREFIX = "/admin"


def in_portal() -> bool:
    """Whether this request is one of the admin portal's."""
    return bool(request) and (request.path == PREFIX or request.path.startswith(PREFIX + "/"))


class SplitSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, with a separate cookie for the admin portal."""

    def get_cookie_name(self, app: Flask) -> str:
        name = super().get_cookie_name(app)
        if not in_portal():
            return name
        base = name.removeprefix("__Host-")
        return f"__Secure-{base}_admin" if app.config["SESSION_COOKIE_SECURE"] else f"{base}_admin"

    def get_cookie_path(self, app: Flask) -> str:
        return PREFIX if in_portal() else super().get_cookie_path(app)

    def get_expiration_time(self, app, session):
        """The portal's cookie lives as long as the browser (its session row expires sooner)."""
        return None if in_portal() else super().get_expiration_time(app, session)


def init_app(app: Flask) -> None:
    """Use the split cookies."""
    app.session_interface = SplitSessionInterface()
