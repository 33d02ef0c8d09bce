"""Where the fuzzer starts: each stage walks a fresh browser to one page of Ferry (the sign-in
page, the code page, the passkey offer, the consent page...) and hands back the form's target,
its hidden fields and the names of every field, so generated values reach the code behind the
page instead of stopping at the CSRF check."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.accounts import create_local_user
from tests.conftest import APP_SECRET, SignIn, deployment, form_fields
from tests.provider.apps import OFFLINE_REDIRECT

EMAIL, PASSWORD = "fuzz@example.com", "correct horse battery"


def fuzz_deployment() -> dict:
    """test-app and spa, an app allowed refresh tokens, and an app on the passkey journey."""
    tables = deployment()
    tables["apps"]["offline"] = {"client_secret": APP_SECRET, "redirect_uris": [OFFLINE_REDIRECT],
                                 "grant_types": ["authorization_code", "refresh_token"]}
    tables["apps"]["passkeys"] = {**tables["apps"]["test-app"], "journey": "passkey-sign-in"}
    return tables


def prepare(app) -> None:
    """The one user every stage signs in as."""
    create_local_user(app, EMAIL, PASSWORD)


@dataclass
class Page:
    """A page a browser is looking at: where its form goes, its hidden fields, all field names."""

    client: object
    path: str
    hidden: dict[str, str]
    names: list[str] = field(default_factory=list)


def _page(client, response, path: str = "/login") -> Page:
    body = response.get_data(as_text=True)
    names = sorted(set(re.findall(r'<(?:input|button|select|textarea)[^>]*\bname="([^"]+)"', body)))
    return Page(client, path, form_fields(body), names)


def sign_in_page(app) -> Page:
    walker = SignIn(app.test_client())
    return _page(walker.client, walker.start())  # /authorize answers the page; it posts to /login


def _alternative(app, choice: str) -> Page:
    walker = SignIn(app.test_client())
    walker.start()
    return _page(walker.client, walker.post(identifier=EMAIL, alternative=choice))


def code_page(app) -> Page:
    return _alternative(app, "code")


def pin_page(app) -> Page:
    return _alternative(app, "pin")


def passkey_page(app) -> Page:
    walker = SignIn(app.test_client(), client_id="passkeys")
    return _page(walker.client, walker.start())


def offer_page(app) -> Page:
    walker = SignIn(app.test_client())
    walker.start()
    return _page(walker.client, walker.post(identifier=EMAIL, password=PASSWORD, decline_offers=False))


def new_pin_page(app) -> Page:
    offer = offer_page(app)
    response = offer.client.post("/login", data={**offer.hidden, "pin": "1"})
    return _page(offer.client, response)


def consent_page(app) -> Page:
    walker = SignIn(app.test_client(), client_id="offline", redirect_uri=OFFLINE_REDIRECT)
    walker.start(scope="openid offline_access", prompt="consent")
    location = walker.post(identifier=EMAIL, password=PASSWORD).headers["Location"]
    return _page(walker.client, walker.client.get(location), "/authorize/consent")


def account_page(app) -> Page:
    walker = SignIn(app.test_client())
    walker.open()
    walker.post(identifier=EMAIL, password=PASSWORD)
    return _page(walker.client, walker.client.get("/"), "/passkeys/1/rename")


def logout_page(app) -> Page:
    walker = SignIn(app.test_client())
    walker.tokens(EMAIL, PASSWORD)
    return _page(walker.client, walker.client.get("/logout"), "/logout")


#: Every field name of Ferry's pages (templates/steps/*, account, consent, logout).
FIELD_NAMES = ["identifier", "password", "credential", "alternative", "federate", "code", "resend", "pin",
               "confirm", "skip", "other", "name", "decision", "request"]

STAGES: dict[str, Callable[[object], Page]] = {
    "sign-in": sign_in_page, "code": code_page, "pin": pin_page, "passkey": passkey_page,
    "offer": offer_page, "new-pin": new_pin_page, "consent": consent_page, "account": account_page,
    "logout": logout_page,
}

#: Every route, with the parameters its callers normally send (the fuzzer adds its own).
ROUTES = {
    "/": [], "/login": ["step", "identifier", "password"], "/authorize": [
        "response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge",
        "code_challenge_method", "prompt", "max_age", "login_hint", "id_token_hint", "ui_locales",
        "acr_values", "request", "request_uri", "response_mode", "claims"],
    "/authorize/consent": ["request", "decision"], "/authorize/account": ["request", "decision"],
    "/token": ["grant_type", "code", "redirect_uri", "code_verifier", "client_id", "client_secret",
               "refresh_token", "scope", "client_assertion", "client_assertion_type"],
    "/revoke": ["token", "token_type_hint", "client_id", "client_secret"],
    "/introspect": ["token", "token_type_hint", "client_id", "client_secret"],
    "/userinfo": ["access_token"], "/logout": ["id_token_hint", "post_logout_redirect_uri", "state",
                                               "client_id", "logout_hint", "ui_locales", "confirm"],
    "/.well-known/openid-configuration": [], "/.well-known/jwks.json": [], "/signout": [],
    "/passkeys/add": [], "/passkeys/1/rename": ["name"], "/passkeys/1/remove": [],
    "/pins/1/remove": [], "/consents/offline/withdraw": [], "/federate/nobody/callback": [
        "state", "code", "SAMLResponse", "RelayState", "error"], "/federate/nobody/metadata": [],
}
