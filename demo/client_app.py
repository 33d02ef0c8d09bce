"""A demo *application* that signs its users in through Ferry, like any OpenID Connect client.

It knows nothing about migration: it finds Ferry by discovery
(``{FERRY_URL}/.well-known/openid-configuration``), sends the browser to Ferry's authorization
endpoint (authorization code flow with PKCE S256, a nonce and ``client_secret_basic`` at the token
endpoint, all done by authlib's Flask client), shows the claims of the ID token it gets back, and
signs out with RP-initiated logout at Ferry's ``end_session_endpoint``.

Settings (environment, or ``test_config`` keys of the same name):

- ``FERRY_URL``: where Ferry runs, default ``http://localhost:5000``.
- ``DEMO_APP_URL``: this app's own address, default ``http://localhost:{DEMO_APP_PORT}``; the
  redirect URIs registered at Ferry are built from it, so keep it and Ferry's config in step.
- ``FERRY_DISCOVERY`` (``test_config`` only): a ready discovery document used instead of fetching
  one, so tests can run without a Ferry.
- ``DEMO_MAILBOX``: the Maildir folder of the demo's SMTP sink (``demo.run`` sets it). With it,
  ``/mailbox`` is the "Demo mailbox" page: the messages Ferry sent, newest first, codes
  highlighted (see :mod:`demo.mail_sink`). Without it there is no such page: the mailbox belongs
  to the demo, never to Ferry or a real deployment.

Run it with ``python -m flask --app demo.client_app:create_app run --port 5002``.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect
from joserfc.errors import JoseError
from werkzeug.wrappers import Response

from demo.mail_sink import Mailbox

logger = logging.getLogger(__name__)

#: Claims shown first, in this order; the rest follow alphabetically.
LEADING_CLAIMS = ("sub", "email", "email_verified", "name", "given_name", "family_name")
#: Claims holding seconds since the epoch, shown with a readable time next to them.
TIME_CLAIMS = frozenset({"iat", "exp", "auth_time", "nbf", "updated_at"})
#: How long a call to Ferry (discovery, token, JWKS) may take before the page gives up.
FERRY_TIMEOUT = 10


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the demo app and register Ferry as its OpenID Provider."""
    app = Flask(__name__)
    app_port = os.environ.get("DEMO_APP_PORT", "5002")
    app.config.from_mapping(
        SECRET_KEY=os.environ.get("DEMO_APP_SECRET_KEY") or secrets.token_hex(32),
        SESSION_COOKIE_NAME="demo_app_session",
        SESSION_COOKIE_SAMESITE="Lax",
        FERRY_URL=os.environ.get("FERRY_URL", "http://localhost:5000"),
        DEMO_APP_URL=os.environ.get("DEMO_APP_URL", f"http://localhost:{app_port}"),
        FERRY_CLIENT_ID="demo-app",
        FERRY_CLIENT_SECRET="demo-app-secret-1865",
        FERRY_DISCOVERY=None,
        DEMO_MAILBOX=os.environ.get("DEMO_MAILBOX") or None,
    )
    if test_config:
        app.config.from_mapping(test_config)
    for key in ("FERRY_URL", "DEMO_APP_URL"):
        app.config[key] = app.config[key].rstrip("/")

    app.context_processor(lambda: {"has_mailbox": bool(app.config["DEMO_MAILBOX"])})
    CSRFProtect(app)
    _register_ferry(app)
    app.add_template_filter(_show_claim, "claim")
    _register_views(app)
    return app


def _register_ferry(app: Flask) -> None:
    oauth = OAuth(app)
    where: dict[str, Any]
    if app.config["FERRY_DISCOVERY"]:
        where = dict(app.config["FERRY_DISCOVERY"])
    else:
        where = {
            "server_metadata_url": f"{app.config['FERRY_URL']}/.well-known/openid-configuration"
        }
    oauth.register(
        "ferry",
        client_id=app.config["FERRY_CLIENT_ID"],
        client_secret=app.config["FERRY_CLIENT_SECRET"],
        client_kwargs={
            "scope": "openid email profile",
            "token_endpoint_auth_method": "client_secret_basic",
            "code_challenge_method": "S256",
            "default_timeout": FERRY_TIMEOUT,
        },
        **where,
    )


def _ferry() -> Any:
    return current_app.extensions["authlib.integrations.flask_client"].ferry


def _register_views(app: Flask) -> None:
    @app.get("/")
    def home() -> str:
        """The start page: a Sign in button, or the claims of the ID token."""
        claims = session.get("claims")
        return render_template("demo_app/home.html", claims=_ordered(claims) if claims else None)

    @app.get("/mailbox")
    def mailbox() -> str | tuple[str, int]:
        """The Demo mailbox: the mail Ferry sent to the demo's SMTP sink, newest first."""
        folder = current_app.config["DEMO_MAILBOX"]
        if not folder:
            return render_template("demo_app/mailbox.html", letters=None), 404
        letters = Mailbox(folder).letters()
        return render_template("demo_app/mailbox.html", letters=letters, folder=folder)

    @app.get("/login")
    def login() -> Response | tuple[str, int]:
        """Send the browser to Ferry's authorization endpoint (PKCE, state, nonce)."""
        app_url = current_app.config["DEMO_APP_URL"]
        # The state and PKCE verifier live in this app's cookie, which the browser keeps per
        # host name: start on the same host that Ferry will send the browser back to.
        if request.host_url.rstrip("/") != app_url:
            return redirect(f"{app_url}/login")
        session.clear()
        try:
            return _ferry().authorize_redirect(redirect_uri=f"{app_url}/callback")
        except requests.RequestException as exc:
            logger.warning("Ferry discovery failed: %s", exc)
            return _problem("ferry_unreachable", _unreachable_text(exc), 502)

    @app.get("/callback")
    def callback() -> Response | tuple[str, int]:
        """Exchange the code Ferry sent back for tokens and keep the ID token's claims."""
        try:
            token = _ferry().authorize_access_token()
        except OAuthError as exc:
            # Ferry's own answer (?error=access_denied...) or a failed check of ours (state, nonce,
            # signature); either way the user sees it instead of a 500.
            logger.info("sign-in failed: %s %s", exc.error, exc.description)
            return _problem(exc.error or "sign_in_failed", exc.description or "", 400)
        except (JoseError, ValueError) as exc:
            logger.warning("ID token from Ferry rejected: %r", exc)
            return _problem(
                "invalid_id_token", f"The ID token did not pass the checks: {exc!r}", 502
            )
        except requests.RequestException as exc:
            logger.warning("token request to Ferry failed: %s", exc)
            return _problem("ferry_unreachable", _unreachable_text(exc), 502)
        if not token.get("userinfo"):
            return _problem("no_id_token", "Ferry answered without an ID token.", 502)
        session.clear()
        session["claims"] = dict(token["userinfo"])
        session["id_token"] = token["id_token"]
        return redirect(url_for("home"))

    @app.post("/logout")
    def logout() -> Response | tuple[str, int]:
        """Forget the user here and end the session at Ferry (RP-initiated logout)."""
        id_token = session.get("id_token")
        session.clear()
        if not id_token:
            return redirect(url_for("home"))
        try:
            end_session = _ferry().create_logout_url(
                post_logout_redirect_uri=f"{current_app.config['DEMO_APP_URL']}/",
                id_token_hint=id_token,
                client_id=current_app.config["FERRY_CLIENT_ID"],
            )
        except (requests.RequestException, RuntimeError) as exc:
            # Ferry down or without end_session_endpoint: at least this app forgets the user.
            logger.warning("RP-initiated logout not possible: %s", exc)
            return _problem(
                "signed_out_locally",
                "You are signed out of the demo app, but Ferry could not be asked to end its "
                "session too.",
                502,
            )
        return redirect(end_session["url"])

    @app.errorhandler(CSRFError)
    def csrf_failed(exc: CSRFError) -> tuple[str, int]:
        """A form posted without its CSRF token: a page that says so."""
        return _problem("csrf_failed", f"{exc.description} Reload the page and try again.", 400)


def _problem(error: str, description: str, status: int) -> tuple[str, int]:
    return render_template("demo_app/home.html", error=error, description=description), status


def _unreachable_text(exc: requests.RequestException) -> str:
    return f"Could not use Ferry at {current_app.config['FERRY_URL']}. Is it running? ({exc})"


def _ordered(claims: Mapping[str, Any]) -> list[tuple[str, Any]]:
    first = [(name, claims[name]) for name in LEADING_CLAIMS if name in claims]
    rest = sorted((k, v) for k, v in claims.items() if k not in LEADING_CLAIMS)
    return first + rest


def _show_claim(item: tuple[str, Any]) -> str:
    name, value = item
    if name in TIME_CLAIMS and isinstance(value, int | float):
        stamp = datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"{value} ({stamp})"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
