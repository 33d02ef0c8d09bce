"""Fixtures shared by every test: the app, its client, the real peers, and a sign-in walker.

* ``make_app(**config)`` builds Ferry with ``create_app(test_config)`` on a fresh database.
* ``database_url`` is parametrised over SQLite and PostgreSQL for data-layer tests.
* ``password_grant_server`` is the real OAuth 2.0 password-grant server (Django OAuth Toolkit).
* ``SignIn`` walks authorize -> sign-in pages -> token exchange by posting forms like a browser.
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
import re
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from app import create_app
from models import database
from tests.peers.password_grant import PasswordGrantServer
from tests.postgres import postgres_url, reset_postgres

APP_REDIRECT = "http://localhost:8000/callback"
APP_SECRET = "test-app-secret-0123456789"
SPA_REDIRECT = "http://localhost:8001/cb"

FAST_ARGON2 = {"PASSWORD_TIME_COST": 1, "PASSWORD_MEMORY_COST": 8192}


def deployment(connectors: dict | None = None, **extra) -> dict:
    """A deployment with a confidential app, a public app, and the given connectors."""
    tables = {
        "connectors": connectors or {},
        "apps": {
            "test-app": {
                "name": "Test app", "client_secret": APP_SECRET,
                "redirect_uris": [APP_REDIRECT],
                "post_logout_redirect_uris": ["http://localhost:8000/"],
            },
            "spa": {"name": "Single-page app", "redirect_uris": [SPA_REDIRECT]},
        },
    }
    tables.update(extra)
    return tables


def ropc_connector(server: PasswordGrantServer, **settings) -> dict:
    return {
        "type": "ropc", "token_url": server.token_url, "userinfo_url": server.userinfo_url,
        "client_id": server.client_id, "client_secret": server.client_secret,
        "connect_timeout": 2, "read_timeout": 5, **settings,
    }


@pytest.fixture
def make_app(tmp_path):
    """Build a Ferry app; keyword arguments are test config (``DEPLOYMENT`` included)."""
    built = []

    def build(database_url: str | None = None, **config):
        test_config = {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "ISSUER": "http://localhost",
            "CONFIG_FILE": None,
            "DATABASE_URL": database_url or f"sqlite:///{tmp_path}/ferry-{len(built)}.db",
            "SIGNIN_RATE_LIMIT": "1000 per minute",
            "DEPLOYMENT": deployment(),
            **FAST_ARGON2,
            **config,
        }
        app = create_app(test_config)
        built.append(app)
        return app

    yield build
    database.shutdown()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def password_grant_server():
    """The real password-grant peer, shared by the session; tests that stop it restart it."""
    with PasswordGrantServer() as server:
        yield server


@pytest.fixture
def legacy_app(make_app, password_grant_server):
    """Ferry with the real password-grant server as its only legacy IDP."""
    if not password_grant_server.running:
        password_grant_server.start()
    return make_app(DEPLOYMENT=deployment({"legacy": ropc_connector(password_grant_server)}))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ferry.db"
    url = postgres_url()
    reset_postgres(url)
    return url


# -- walking a sign-in like a browser ------------------------------------------------------
def form_fields(body: str) -> dict[str, str]:
    """Hidden inputs of the page (CSRF token, step)."""
    fields = {}
    for tag in re.findall(r"<input[^>]*>", body):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and 'type="hidden"' in tag:
            fields[html.unescape(name.group(1))] = html.unescape(value.group(1) if value else "")
    return fields


def is_sign_in_page(response) -> bool:
    """The response is a journey page whose form posts to ``/login`` (``/authorize`` answers
    with the first page of the sign-in it started)."""
    return 'action="/login"' in response.get_data(as_text=True)


def is_offer(body: str) -> bool:
    """The page offers a passkey or a PIN after a sign-in (``register_passkey``, ``register_pin``)."""
    return 'data-webauthn="create"' in body and 'name="skip"' in body


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class SignIn:
    """One browser (one cookie jar) signing in to one app."""

    def __init__(self, client, client_id: str = "test-app", redirect_uri: str = APP_REDIRECT,
                 client_secret: str | None = APP_SECRET) -> None:
        self.client = client
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.client_secret = client_secret
        self.state = self.nonce = self.verifier = None
        self.page = None

    def authorize(self, **overrides):
        self.verifier, challenge = pkce_pair()
        self.state, self.nonce = secrets.token_urlsafe(8), secrets.token_urlsafe(8)
        params = {
            "response_type": "code", "client_id": self.client_id,
            "redirect_uri": self.redirect_uri, "scope": "openid email profile",
            "state": self.state, "nonce": self.nonce,
            "code_challenge": challenge, "code_challenge_method": "S256",
        }
        params.update(overrides)
        params = {k: v for k, v in params.items() if v is not None}
        response = self.client.get("/authorize?" + urlencode(params))
        if response.status_code == 200:  # the sign-in page, in the same response
            self.page = response
        return response

    def start(self, **authorize):
        """authorize -> the first sign-in page, which ``/authorize`` answers itself; returns it."""
        response = self.authorize(**authorize)
        assert response.status_code == 200 and is_sign_in_page(response), \
            response.get_data(as_text=True)[:500]
        return response

    def open(self):
        """``GET /login``: the page the run is at now (a reload, or a page after a redirect)."""
        self.page = self.client.get("/login")
        return self.page

    def post(self, *, decline_offers: bool = True, **data):
        """Post the page's form with ``data``. A passkey or PIN offer that follows is answered
        "Not now" (as most users do) unless ``decline_offers`` is false."""
        fields = form_fields(self.page.get_data(as_text=True)) if self.page else {}
        fields.update(data)
        response = self.client.post("/login", data=fields)
        if response.status_code == 200:
            self.page = response
            if decline_offers and is_offer(response.get_data(as_text=True)):
                return self.post(skip="1")
        return response

    def sign_in(self, identifier: str, password: str, **authorize):
        """authorize -> sign-in page -> post; returns the last response."""
        self.start(**authorize)
        return self.post(identifier=identifier, password=password)

    def code_from(self, response) -> str:
        assert response.status_code in (302, 303), response.get_data(as_text=True)[:800]
        location = response.headers["Location"]
        assert location.startswith(self.redirect_uri), location
        query = parse_qs(urlsplit(location).query)
        assert query["state"] == [self.state]
        return query["code"][0]

    def exchange(self, code: str, **overrides):
        data = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": self.redirect_uri, "code_verifier": self.verifier}
        data.update(overrides)
        data = {k: v for k, v in data.items() if v is not None}
        if self.client_secret:
            basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            return self.client.post("/token", data=data, headers={"Authorization": f"Basic {basic}"})
        return self.client.post("/token", data={**data, "client_id": self.client_id})

    def tokens(self, identifier: str, password: str) -> dict:
        response = self.exchange(self.code_from(self.sign_in(identifier, password)))
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    def id_token_claims(self, id_token: str) -> dict:
        keys = KeySet.import_key_set(self.client.get("/.well-known/jwks.json").get_json())
        token = jwt.decode(id_token, keys)
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": "http://localhost"},
            aud={"essential": True, "value": self.client_id},
            nonce={"essential": True, "value": self.nonce},
        ).validate(token.claims)
        return dict(token.claims)


@pytest.fixture
def sign_in(client):
    return SignIn(client)


def pytest_report_header(config):
    return f"postgres: {os.environ.get('FERRY_TEST_DATABASE_URL') or 'auto (127.0.0.1:5432)'}"
