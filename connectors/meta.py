"""Facebook Login ("Continue with Facebook") as a legacy source: type ``meta``.

The user presses "Continue with Facebook", signs in (and consents) in Meta's Login Dialog, and
comes back to Ferry's callback with a code; Ferry exchanges it for an access token at the Graph
API and reads the profile from ``/me``, signed with ``appsecret_proof``. The app-scoped user id
(``id``) is the legacy subject: it is stable for your app, and differs between apps.

Setup at developers.facebook.com (*My Apps*):

1. Create an app (use case *Authenticate and request data from users with Facebook Login*, or
   type *Consumer*), and add the product *Facebook Login*.
2. In *Facebook Login* > *Settings*, paste Ferry's callback into *Valid OAuth Redirect URIs*:
   ``{Ferry's issuer}/federate/<name>/callback``, where ``<name>`` is the connector's name in
   ``[connectors.<name>]``, e.g. ``https://login.example.com/federate/facebook/callback``. Keep
   *Use Strict Mode for redirect URIs* and *Client OAuth login* and *Web OAuth login* on.
3. In *App settings* > *Advanced*, turn on *Require App Secret* (Ferry always sends
   ``appsecret_proof``).
4. In *App settings* > *Basic*, copy the *App ID* (``client_id``) and the *App secret*
   (``client_secret``, use ``"env:NAME"``). The ``email`` permission needs no app review;
   switch the app to *Live* mode before real users sign in.

Settings (``[connectors.<name>]``, ``type = "meta"``):

* ``client_id``, ``client_secret``: the App ID and App secret.
* ``api_version`` (default ``v25.0``): the Graph API and dialog version in every URL.
* ``scope`` (default ``["email", "public_profile"]``): the permissions asked for. ``openid`` is
  refused: Meta's OIDC code flow for web sign-ins is still "in testing", and Limited Login (the
  OIDC ID token at ``limited.facebook.com``) exists only in the iOS SDK.
* ``fields`` (default ``id``, ``name``, ``first_name``, ``last_name``, ``email``, ``picture``):
  the profile fields read from ``/me``; must hold ``id``.
* ``pkce`` (default true): send a PKCE S256 challenge, as Meta documents for manually built
  login flows; false leaves it out.
* ``auth_type``: ``rerequest`` (ask again for a declined e-mail), ``reauthenticate`` (ask for
  the Facebook password again) or none.
* ``trust_email`` (default false): whether Meta's e-mail counts as verified. Meta releases
  ``email`` only when the user has a confirmed address and granted the permission, but sends
  no ``email_verified`` claim; Ferry marks the address verified only when you say so here.
  Linking an existing local user by e-mail (``create_user``'s ``link_verified_email``) needs it.
* ``dialog_url`` (default ``https://www.facebook.com``), ``graph_url`` (default
  ``https://graph.facebook.com``): Meta's hosts (change them only for a test double).
* ``mapping`` (default: ``email``, ``email_verified``, ``given_name`` from ``first_name``,
  ``family_name`` from ``last_name``, ``name``), ``display_name``, timeouts, breaker,
  ``rate_limit``: as every connector.

Outcomes. ``error=access_denied`` (the user cancelled or declined) is a refusal
(:class:`InvalidCredentials`). A dialog error that says Ferry's request is wrong, a token
endpoint or Graph API that fails, answers 5xx, rate-limits or answers garbage, a wrong app
secret (refused ``appsecret_proof``) or a redirect URI Meta does not accept is
:class:`LegacyUnavailable`. An answer that must not be trusted is :class:`FederationRejected`
(audited): no code, a code Meta refuses (used, expired, forged, another PKCE verifier), an
access token the Graph API refuses, or a profile without a usable ``id``. The ``state`` is
Ferry's single-use journey reference: the core refuses a wrong or reused one first. Ferry does
not call ``debug_token``: the token comes straight from Meta in exchange for Ferry's own App
secret, and ``/me`` with ``appsecret_proof`` refuses a token of any other app. Nothing secret is
logged: no code, token, verifier or secret.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from typing import Any, Literal
from urllib.parse import urlencode

from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from pydantic import Field, field_validator

from connectors.base import (
    ExternalIdentity,
    FederationRejected,
    InvalidCredentials,
    LegacyUnavailable,
    RedirectConnector,
)
from connectors.common_settings import ConnectorSettings
from connectors.http import LegacyHttp, parse_json
from connectors.oidc.presets import checked_url

log = logging.getLogger(__name__)

DIALOG_URL = "https://www.facebook.com"
GRAPH_URL = "https://graph.facebook.com"
#: Meta's changelog: v25.0 was released on 18 February 2026 and is available until July 2028.
API_VERSION = "v25.0"
DEFAULT_MAPPING = {
    "email": "email",
    "email_verified": "email_verified|bool",
    "given_name": "first_name",
    "family_name": "last_name",
    "name": "name",
}
#: Graph API error codes that mean Meta is down or throttling (its "is_transient" aside).
OUTAGE_CODES = frozenset({1, 2, 4, 17, 32, 341, 613})
#: ``error_subcode`` of a token request whose ``redirect_uri`` differs from the dialog's.
REDIRECT_MISMATCH = 36008
#: Dialog ``error_code`` for "User canceled the Dialog flow".
DIALOG_CANCELLED = "4201"
_APP_SCOPED_ID = re.compile(r"^[0-9]{1,32}$")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class MetaSettings(ConnectorSettings):
    """``[connectors.<name>]`` with ``type = "meta"`` (every key is described above)."""

    client_id: str = Field(min_length=1, pattern=r"^[0-9]+$")
    client_secret: str = Field(min_length=1)
    api_version: str = Field(API_VERSION, pattern=r"^v[0-9]{1,3}\.[0-9]{1,2}$")
    scope: list[str] = Field(default_factory=lambda: ["email", "public_profile"], min_length=1)
    fields: list[str] = Field(default_factory=lambda: ["id", "name", "first_name", "last_name",
                                                       "email", "picture"])
    pkce: bool = True
    auth_type: Literal["rerequest", "reauthenticate"] | None = None
    trust_email: bool = False
    dialog_url: str = DIALOG_URL
    graph_url: str = GRAPH_URL
    mapping: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_MAPPING))

    @field_validator("dialog_url", "graph_url")
    @classmethod
    def _meta_host(cls, value: str) -> str:
        return (checked_url(value) or "").rstrip("/")

    @field_validator("scope")
    @classmethod
    def _permissions(cls, value: list[str]) -> list[str]:
        for permission in value:
            if not _NAME.match(permission):
                raise ValueError(f"{permission!r} is not a permission name")
        if "openid" in value:
            raise ValueError("openid is not supported: Ferry uses Facebook Login's OAuth flow and "
                             "the Graph API (Meta's OIDC flow for the web is still in testing)")
        return value

    @field_validator("fields")
    @classmethod
    def _profile_fields(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(f"{name!r} is not a Graph API field name")
        if "id" not in value:
            raise ValueError("must include id (the app-scoped user id links the user)")
        return value


def appsecret_proof(access_token: str, app_secret: str) -> str:
    """Meta's ``appsecret_proof``: the hex HMAC-SHA256 of the access token, keyed by the secret."""
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()


class MetaConnector(RedirectConnector):
    """Facebook Login: the Login Dialog, the code exchange and ``/me`` at the Graph API."""

    type = "meta"
    Settings = MetaSettings
    settings: MetaSettings

    def __init__(self, name: str, settings: MetaSettings, config: Any) -> None:
        super().__init__(name, settings, config)
        self.http = LegacyHttp(name, self.connect_timeout, self.read_timeout, settings)

    def graph(self, path: str) -> str:
        """The versioned Graph API URL of ``path`` (``me``, ``oauth/access_token``)."""
        return f"{self.settings.graph_url}/{self.settings.api_version}/{path}"

    # -- off to Meta ------------------------------------------------------------------------
    def start(self, reference: str, callback_url: str) -> tuple[str, dict[str, Any]]:
        """The Login Dialog URL (with ``state`` = the journey reference) and the PKCE verifier."""
        params = {"client_id": self.settings.client_id, "redirect_uri": callback_url,
                  "state": reference, "response_type": "code",
                  "scope": ",".join(self.settings.scope)}
        verifier = generate_token(64) if self.settings.pkce else None
        if verifier:
            params.update(code_challenge=create_s256_code_challenge(verifier),
                          code_challenge_method="S256")
        if self.settings.auth_type:
            params["auth_type"] = self.settings.auth_type
        url = (f"{self.settings.dialog_url}/{self.settings.api_version}/dialog/oauth?"
               + urlencode(params))
        return url, {"code_verifier": verifier}

    def destination(self) -> str:
        """The Login Dialog's address (for the sign-in page's CSP ``form-action``)."""
        return f"{self.settings.dialog_url}/{self.settings.api_version}/dialog/oauth"

    # -- back from Meta ---------------------------------------------------------------------
    def complete(self, params: dict[str, str], state: dict[str, Any],
                 callback_url: str) -> ExternalIdentity:
        """Exchange the code, read ``/me``, and return the app-scoped id and the profile."""
        verifier = state.get("code_verifier")
        if verifier is not None and not isinstance(verifier, str):
            raise FederationRejected("the sign-in state is incomplete")
        if "error" in params or "error_code" in params:
            self._raise_for_error_answer(params)
        code = params.get("code")
        if not code:
            raise FederationRejected("the answer carries neither a code nor an error")
        access_token = self._exchange(code, verifier, callback_url)
        profile = self._profile(access_token)
        subject = profile.get("id")
        if not isinstance(subject, str) or not _APP_SCOPED_ID.match(subject):
            raise FederationRejected("the Graph API profile has no usable 'id'")
        return ExternalIdentity(self.name, subject, self.claims(profile))

    def claims(self, profile: dict[str, Any]) -> dict[str, Any]:
        """The profile as claims. Meta sends no ``email_verified``: ``trust_email`` decides."""
        claims = {key: value for key, value in profile.items() if key != "email_verified"}
        email = claims.get("email")
        claims["email_verified"] = bool(self.settings.trust_email and isinstance(email, str)
                                        and email)
        return claims

    def _raise_for_error_answer(self, params: dict[str, str]) -> None:
        # Relayed by the browser, so never counted by the breaker (outage=False).
        error, code = params.get("error"), params.get("error_code")
        if error == "access_denied" or (error is None and code == DIALOG_CANCELLED):
            log.info("connector %s: Meta answered %s (%s)", self.name, error or code,
                     (params.get("error_reason") or "")[:40])
            raise InvalidCredentials()
        shown = error if error is not None else code or ""
        if 0 < len(shown) <= 64 and shown.replace("_", "").isalnum():
            log.error("connector %s: the Login Dialog refused Ferry's request (%s): check its "
                      "settings and the app's Facebook Login settings", self.name, shown)
            raise self.unavailable(f"the Login Dialog answered {shown}", outage=False)
        raise FederationRejected("the error answer is malformed")

    # -- the Graph API ----------------------------------------------------------------------
    def _exchange(self, code: str, verifier: str | None, callback_url: str) -> str:
        form = {"client_id": self.settings.client_id, "client_secret": self.settings.client_secret,
                "redirect_uri": callback_url, "code": code}
        if verifier:
            form["code_verifier"] = verifier
        answer = self._call("POST", "oauth/access_token", "the token endpoint", data=form)
        error = answer.get("error")
        if error is not None:
            code_number, subcode = _error_codes(error)
            if code_number == 100 and subcode != REDIRECT_MISMATCH:
                raise FederationRejected("the token endpoint refused the code (OAuthException "
                                         "100)")
            raise self._refused_ferry("the token endpoint", error)
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise self.unavailable("token answer without an access_token")
        token_type = answer.get("token_type", "bearer")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise self.unavailable(f"token answer of type {str(token_type)[:20]!r}, not bearer")
        return token

    def _profile(self, access_token: str) -> dict[str, Any]:
        query = {"fields": ",".join(self.settings.fields),
                 "appsecret_proof": appsecret_proof(access_token, self.settings.client_secret)}
        answer = self._call("GET", "me", "the Graph API /me", params=query,
                            headers={"Authorization": f"Bearer {access_token}"})
        error = answer.get("error")
        if error is not None:
            code_number, _subcode = _error_codes(error)
            if code_number == 190:
                raise FederationRejected("the Graph API refused the access token "
                                         "(OAuthException 190)")
            raise self._refused_ferry("the Graph API /me", error)
        return answer

    def _call(self, method: str, path: str, about: str, **kwargs: Any) -> dict[str, Any]:
        """One Graph API request; its JSON object (an ``error`` object included), or
        unavailable. Reasons name ``about``, never the URL (it may carry the proof)."""
        headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
        response = self.http.request(method, self.graph(path), about=about, headers=headers,
                                     **kwargs)
        if response.status_code >= 500 or response.status_code == 429:
            raise self.unavailable(f"{about} answered {response.status_code}")
        try:
            answer = parse_json(response.content)
        except ValueError as error:
            raise self.unavailable(f"{about} answered {response.status_code}, not JSON: "
                                   f"{str(error)[:100]}") from None
        if not isinstance(answer, dict):
            raise self.unavailable(f"{about} answered JSON that is not an object")
        if response.status_code != 200 and "error" not in answer:
            raise self.unavailable(f"{about} answered {response.status_code} without an error")
        return answer

    def _refused_ferry(self, about: str, error: Any) -> LegacyUnavailable:
        """An error that is no verdict on the user: Meta is down or busy, or refuses Ferry."""
        code_number, subcode = _error_codes(error)
        message = error.get("message") if isinstance(error, dict) else None
        words = str(message)[:160] if message else "no message"
        transient = isinstance(error, dict) and error.get("is_transient") is True
        if transient or (code_number in OUTAGE_CODES and "secret" not in words.lower()):
            return self.unavailable(f"{about} answered error {code_number}: {words}")
        log.error("connector %s: %s refused Ferry (error %s/%s: %s): check client_id, "
                  "client_secret and the app's Valid OAuth Redirect URIs", self.name, about,
                  code_number, subcode, words)
        return self.unavailable(f"{about} refused Ferry's request: error {code_number}: {words}")


def _error_codes(error: Any) -> tuple[int | None, int | None]:
    """``code`` and ``error_subcode`` of a Graph API error object (None when absent)."""
    if not isinstance(error, dict):
        return None, None
    code, subcode = error.get("code"), error.get("error_subcode")
    return (code if isinstance(code, int) and not isinstance(code, bool) else None,
            subcode if isinstance(subcode, int) and not isinstance(subcode, bool) else None)

