"""App entries and walkers for the provider tests: an app allowed refresh tokens, one that asks
for consent, and helpers that read an authorization answer like an app would."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.conftest import APP_REDIRECT, APP_SECRET, SPA_REDIRECT, SignIn, deployment

EMAIL, PASSWORD = "dana@example.com", "correct horse battery"
OFFLINE_REDIRECT = "http://localhost:8002/cb"
CONSENT_REDIRECT = "http://localhost:8003/cb"


def provider_deployment(**apps) -> dict:
    """test-app and spa of tests/conftest.py, ``offline`` (refresh tokens) and ``asks`` (consent)."""
    tables = deployment()
    tables["apps"]["test-app"]["scope_claims"] = {"employee": ["employee_id"]}
    tables["apps"]["test-app"]["scopes"] = ["openid", "email", "profile", "phone", "employee"]
    tables["apps"]["offline"] = {
        "name": "Offline app", "client_secret": APP_SECRET, "redirect_uris": [OFFLINE_REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
    }
    tables["apps"]["asks"] = {
        "name": "Third-party app", "client_secret": APP_SECRET, "redirect_uris": [CONSENT_REDIRECT],
        "consent": "required",
    }
    tables["apps"].update(apps)
    return tables


def query(response) -> dict[str, str]:
    """The query of a redirect, one value per name."""
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def walker(client, app: str = "test-app") -> SignIn:
    redirect = {"test-app": APP_REDIRECT, "spa": SPA_REDIRECT, "offline": OFFLINE_REDIRECT,
                "asks": CONSENT_REDIRECT}[app]
    return SignIn(client, client_id=app, redirect_uri=redirect,
                  client_secret=None if app == "spa" else APP_SECRET)
