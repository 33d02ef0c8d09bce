"""PingOne as the legacy IDP, over its authentication flow API: type ``pingone``.

PingOne has no password grant. Ferry signs the user in the way a custom sign-on page does
(PingOne's "flow API", for applications that draw their own login UI), then gets the user's
tokens with the authorization code, all server to server:

1. ``GET {auth_url}/{environment_id}/as/authorize`` with ``response_type=code``,
   ``response_mode=pi.flow``, ``prompt=login``, the client id, ``redirect_uri``, the scopes,
   a nonce and a PKCE S256 challenge. PingOne answers with a *flow* as JSON (``id``,
   ``status`` ``USERNAME_PASSWORD_REQUIRED``) and session cookies.
2. ``POST {auth_url}/{environment_id}/flows/{flowId}`` with ``Content-Type:
   application/vnd.pingidentity.usernamePassword.check+json`` and ``{"username", "password"}``,
   sending that flow's cookies back.
3. On ``COMPLETED``: the code from the flow's ``authorizeResponse`` (else from
   ``GET .../as/resume?flowId=...``), exchanged at ``.../as/token`` with the PKCE verifier; the
   ID token is checked with ``.../as/jwks`` (``iss``, ``aud``, signature, ``nonce``) and the
   profile read from ``.../as/userinfo``.

The cookies of one sign-in are never kept for another (an old PingOne session would sign the
next user in as the previous one): this connector's HTTP session stores no cookies at all, and
``prompt=login`` asks PingOne to check the password even so.

Setup in PingOne (admin console, the environment the users live in):

1. *Applications > Add application*: *OIDC Web App*, e.g. "Ferry". Grant type *Authorization
   Code* with PKCE (*S256*); *Token endpoint authentication*: *Client Secret Basic* (or *Post*);
   a redirect URI (``redirect_uri`` below; PingOne never sends a browser there, Ferry only
   names it); scopes ``openid email profile``; enable the application.
2. The application's *Policies*: a sign-on policy whose first action is *Login* (username and
   password). A policy with MFA makes those users *blocked* here (see below).
3. Copy the *Environment ID*, *Client ID* and *Client Secret*.

Settings (``[connectors.<name>]``, ``type = "pingone"``):

* ``environment_id``: the environment's id (a UUID).
* ``region`` (default ``com``): ``com`` (North America), ``eu``, ``ca``, ``asia``, ``com.au``
  or ``sg``: the top-level domain of ``https://auth.pingone.<region>``.
* ``auth_url`` (default ``https://auth.pingone.<region>``): set it for a custom domain
  (``https://login.example.com``; then no environment id appears in PingOne's issuer, so set
  ``issuer`` too).
* ``issuer`` (default ``{auth_url}/{environment_id}/as``): the ``iss`` of the ID tokens.
* ``client_id``, ``client_secret`` (use ``"env:NAME"``), ``client_auth``: ``basic`` (default),
  ``post`` or ``none``.
* ``redirect_uri``: one of the application's redirect URIs.
* ``scope`` (default ``openid email profile``; must contain ``openid``), ``subject_claim``
  (default ``sub``: the PingOne user id).
* ``mapping``, ``display_name``, timeouts, breaker, ``rate_limit``, ``send_identifier``: as every
  connector.

Outcomes:

* ``COMPLETED``: the identity (subject: the ID token's ``sub``).
* ``400 INVALID_DATA`` whose ``details`` say ``INVALID_VALUE`` or ``INVALID_CREDENTIALS`` (for
  ``username`` or ``password``: "Invalid username and/or password."; an unknown user reads the
  same), or a flow answered with an ``error`` of that code: :class:`InvalidCredentials`.
* A detail or status saying the password is locked (``PASSWORD_LOCKED_OUT``, or a detail
  message with "locked"): blocked ``locked``. ``PASSWORD_EXPIRED``: blocked
  ``password_expired``; ``MUST_CHANGE_PASSWORD``: blocked ``password_change_required``.
* A second factor (``OTP_REQUIRED``, ``DEVICE_SELECTION_REQUIRED``,
  ``PUSH_CONFIRMATION_REQUIRED``, ``ASSERTION_REQUIRED``, ``MFA_REQUIRED``...): blocked
  ``password_change_required``, logged with the status: Ferry does not finish PingOne MFA yet,
  and never migrates such a user on the password alone.
* A flow that does not start with ``USERNAME_PASSWORD_REQUIRED`` (a sign-on policy without
  *Login*), other error codes, ``404`` (the flow expired), a 429, a 5xx, a body that is not JSON,
  a flow without ``id`` or ``status``, an unknown status, a code PingOne will not exchange, an ID
  token that fails a check or userinfo about another user: :class:`LegacyUnavailable`, reason
  in the log.

Docs followed (PingOne Platform API reference and workflow library): "Authorize"
(``response_mode=pi.flow``), "Flows" (the media types and the flow's ``status``),
"Check Username/Password", the flow states ("PingOne authentication flow states":
``USERNAME_PASSWORD_REQUIRED``, ``PASSWORD_EXPIRED``, ``MUST_CHANGE_PASSWORD``, ``OTP_REQUIRED``,
``DEVICE_SELECTION_REQUIRED``, ``PUSH_CONFIRMATION_REQUIRED``...), "Resume" (``authorizeResponse.code``)
and "Error codes" (``id``, ``code``, ``message``, ``details[].code``/``target``/``message``).
Guessed: how a locked password shows in a flow answer (the docs name ``PASSWORD_LOCKED_OUT``
only as a password *status*), and ``MFA_REQUIRED`` (not among the documented flow states; kept
with the MFA states). Left out: finishing MFA (``device.select``, ``otp.check``), the
``password.reset`` action for expired passwords, and lookups.

Nothing secret is logged: not the password, the cookies, the code, the tokens or the secret.
"""

from __future__ import annotations

import logging
import re
from http.cookiejar import DefaultCookiePolicy
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from pydantic import Field, field_validator, model_validator

from connectors.base import AccountBlocked, ConnectorSettings, ExternalIdentity, InvalidCredentials
from connectors.ropc import RopcConnector

log = logging.getLogger(__name__)

CREDENTIALS_MEDIA_TYPE = "application/vnd.pingidentity.usernamePassword.check+json"
BLOCKING_STATUSES = {"PASSWORD_EXPIRED": "password_expired",
                     "MUST_CHANGE_PASSWORD": "password_change_required",
                     "PASSWORD_LOCKED_OUT": "locked"}
MFA_STATUSES = frozenset({"OTP_REQUIRED", "DEVICE_SELECTION_REQUIRED", "PUSH_CONFIRMATION_REQUIRED",
                          "PUSH_CONFIRMATION_TIMED_OUT", "ASSERTION_REQUIRED", "MFA_REQUIRED",
                          "MULTI_FACTOR_AUTHENTICATION_REQUIRED", "DEVICE_REGISTRATION_REQUIRED"})
#: ``details[].code`` values that mean "wrong username or password".
WRONG_PAIR = frozenset({"INVALID_VALUE", "INVALID_CREDENTIALS"})
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


class PingOneSettings(ConnectorSettings):
    """``[connectors.<name>]`` of ``type = "pingone"`` (see the module docstring)."""

    environment_id: str
    region: Literal["com", "eu", "ca", "asia", "com.au", "sg"] = "com"
    auth_url: str | None = None
    issuer: str | None = None
    client_id: str = Field(min_length=1)
    client_secret: str | None = None
    client_auth: Literal["basic", "post", "none"] = "basic"
    redirect_uri: str
    scope: str = "openid email profile"
    subject_claim: str = "sub"

    @field_validator("environment_id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        if not _GUID.match(value):
            raise ValueError("must be the environment's id, a UUID")
        return value

    @field_validator("auth_url", "redirect_uri")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and (urlsplit(value).scheme not in ("https", "http")
                                  or not urlsplit(value).hostname):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/") if value else value

    @field_validator("scope")
    @classmethod
    def _openid_scope(cls, value: str) -> str:
        if "openid" not in value.split():
            raise ValueError("must contain 'openid'")
        return value

    @model_validator(mode="after")
    def _secret(self) -> PingOneSettings:
        if self.client_auth != "none" and not self.client_secret:
            raise ValueError('client_secret: required (or client_auth = "none")')
        return self

    # -- what RopcConnector reads ---------------------------------------------------------
    @property
    def environment_url(self) -> str:
        return f"{self.auth_url or f'https://auth.pingone.{self.region}'}/{self.environment_id}"

    @property
    def token_url(self) -> str:
        return self.environment_url + "/as/token"

    @property
    def userinfo_url(self) -> str:
        return self.environment_url + "/as/userinfo"

    @property
    def jwks_uri(self) -> str:
        return self.environment_url + "/as/jwks"

    @property
    def expected_issuer(self) -> str:
        return self.issuer or self.environment_url + "/as"

    @property
    def extra_params(self) -> dict[str, str]:
        return {}


class PingOneConnector(RopcConnector):
    """The flow API's password check, then the authorization code at PingOne's token endpoint."""

    type = "pingone"
    Settings = PingOneSettings
    settings: PingOneSettings  # type: ignore[assignment]  # read like RopcSettings

    def __init__(self, name: str, settings: PingOneSettings, config: Any) -> None:
        super().__init__(name, settings, config)
        # Never keep a cookie: one user's PingOne session must not sign in the next.
        self.http.session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))

    def verify(self, identifier: str, password: str) -> ExternalIdentity:
        """Start a flow, check the pair in it, and read who PingOne says completed it."""
        verifier, nonce, state = generate_token(64), generate_token(32), generate_token(24)
        flow, cookies = self._start_flow(verifier, nonce, state)
        answer = self._flow_request(
            "POST", f"/flows/{flow['id']}", cookies,
            json={"username": identifier, "password": password},
            headers={"Content-Type": CREDENTIALS_MEDIA_TYPE, "Accept": "application/json"})
        status = self._status(answer)
        if status != "COMPLETED":
            self._refuse(status, answer)
        code = self._code(answer, flow["id"], cookies, state)
        token = self.request_token({"grant_type": "authorization_code", "code": code,
                                    "redirect_uri": self.settings.redirect_uri,
                                    "code_verifier": verifier})
        claims = self.claims_from_token(token)
        if not claims:
            raise self.unavailable("token answer without an id_token (is openid allowed?)")
        if claims.get("nonce") != nonce:
            raise self.unavailable("the ID token's nonce is not the one Ferry sent")
        profile = self.userinfo(token["access_token"])
        if profile.get("sub") != claims.get("sub"):
            raise self.unavailable("userinfo 'sub' differs from the id_token 'sub'")
        return self.identity_from_claims({**claims, **profile}, "in PingOne's ID token")

    # -- the flow ---------------------------------------------------------------------------
    def _start_flow(self, verifier: str, nonce: str, state: str) -> tuple[dict[str, Any], dict]:
        params = {"response_type": "code", "response_mode": "pi.flow", "prompt": "login",
                  "client_id": self.settings.client_id, "redirect_uri": self.settings.redirect_uri,
                  "scope": self.settings.scope, "nonce": nonce, "state": state,
                  "code_challenge": create_s256_code_challenge(verifier),
                  "code_challenge_method": "S256"}
        response = self.http.request("GET", self.settings.environment_url + "/as/authorize",
                                     params=params, headers={"Accept": "application/json"},
                                     about="the authorize endpoint")
        flow = self._flow_answer(response, "the authorize endpoint")
        status = self._status(flow)
        if status != "USERNAME_PASSWORD_REQUIRED" or not isinstance(flow.get("id"), str) \
                or not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", flow["id"]):
            log.error("connector %s: PingOne started a flow with status %r and id %s: the "
                      "application's sign-on policy must start with Login (username and "
                      "password)", self.name, status, "present" if flow.get("id") else "missing")
            raise self.unavailable(f"PingOne started the flow with status {status!r}, not "
                                   "USERNAME_PASSWORD_REQUIRED, or without a usable id")
        return flow, response.cookies.get_dict()

    def _flow_request(self, method: str, path: str, cookies: dict, **kwargs: Any) -> dict:
        response = self.http.request(method, self.settings.environment_url + path,
                                     cookies=cookies, about=f"the flow API ({path.split('/')[1]})",
                                     **kwargs)
        return self._flow_answer(response, "the flow API")

    def _flow_answer(self, response: Any, where: str) -> dict[str, Any]:
        status = response.status_code
        if status >= 500 or status == 429:
            raise self.unavailable(f"{where} answered {status}")
        body = self.http.json(response)
        if status == 200:
            return body
        code = str(body.get("code"))[:64]
        details = body.get("details") if isinstance(body.get("details"), list) else []
        details = [d for d in details if isinstance(d, dict)]
        if status == 400 and code == "INVALID_DATA" and where == "the flow API":
            self._raise_for_details(details)
        if status == 404:
            raise self.unavailable(f"{where} answered 404 {code} (the flow expired?)", outage=False)
        said = "; ".join(f"{d.get('code')}: {str(d.get('message'))[:120]}" for d in details[:3])
        log.error("connector %s: PingOne refused Ferry's request at %s (HTTP %s, %s%s): check "
                  "the application's settings", self.name, where, status, code,
                  f", {said}" if said else "")
        raise self.unavailable(f"{where} answered {status} {code}" + (f" ({said})" if said else ""))

    def _raise_for_details(self, details: list[dict[str, Any]]) -> None:
        for detail in details:
            words = f"{detail.get('code')} {detail.get('message')}".lower()
            if "locked" in words:
                raise AccountBlocked("locked")
        if details and all(d.get("code") in WRONG_PAIR for d in details):
            raise InvalidCredentials()

    @staticmethod
    def _status(flow: dict[str, Any]) -> str:
        status = flow.get("status")
        return status if isinstance(status, str) else "(none)"

    def _refuse(self, status: str, flow: dict[str, Any]) -> None:
        """The flow did not complete: say why, as an outcome."""
        error = flow.get("error")
        if isinstance(error, dict):
            code = error.get("code")
            if "locked" in f"{code} {error.get('message')}".lower():
                raise AccountBlocked("locked")
            if code in WRONG_PAIR:
                raise InvalidCredentials()
        if status in BLOCKING_STATUSES:
            raise AccountBlocked(BLOCKING_STATUSES[status])
        if status in MFA_STATUSES:
            log.info("connector %s: PingOne wants a second factor (%s), which Ferry cannot "
                     "finish: the user is told to choose a new password", self.name, status)
            raise AccountBlocked("password_change_required")
        raise self.unavailable(f"the flow API answered status {status[:64]!r} after the password")

    def _code(self, flow: dict[str, Any], flow_id: str, cookies: dict, state: str) -> str:
        """The authorization code of a completed flow: in it, else from the resume endpoint."""
        code = _authorize_code(flow, state)
        if code is None:
            response = self.http.request(
                "GET", self.settings.environment_url + "/as/resume", params={"flowId": flow_id},
                cookies=cookies, headers={"Accept": "application/json"}, about="the resume endpoint")
            if response.status_code in (302, 303):
                query = dict(parse_qsl(urlsplit(response.headers.get("Location", "")).query))
                code = query.get("code") if query.get("state", state) == state else None
            elif response.status_code == 200:
                code = _authorize_code(self.http.json(response), state)
            else:
                raise self.unavailable(f"the resume endpoint answered {response.status_code}")
        if not code:
            raise self.unavailable("the completed flow carries no authorization code (or one for "
                                   "another state)")
        return code

    def raise_for_error(self, status: int, body: dict[str, Any]) -> None:
        """Any refusal of the code exchange is Ferry's problem, never a wrong password."""
        error = str(body.get("error", body.get("code")))[:64]
        log.error("connector %s: PingOne's token endpoint refused the code (HTTP %s, %s): check "
                  "client_secret, client_auth and redirect_uri", self.name, status, error)
        raise self.unavailable(f"token endpoint error {error!r} (HTTP {status})")

    def _verified_claims(self, id_token: str) -> dict[str, Any]:
        try:
            token = jwt.decode(id_token, self._keys())
        except JoseError:
            self._jwks = None  # PingOne may have rotated its keys: once more
            token = jwt.decode(id_token, self._keys())
        jwt.JWTClaimsRegistry(aud={"essential": True, "value": self.settings.client_id},
                              iss={"essential": True, "value": self.settings.expected_issuer},
                              ).validate(token.claims)
        return dict(token.claims)


def _authorize_code(flow: dict[str, Any], state: str) -> str | None:
    """``authorizeResponse.code`` of a flow, if its ``state`` (when given) is Ferry's."""
    answer = flow.get("authorizeResponse")
    if not isinstance(answer, dict) or answer.get("state", state) != state:
        return None
    code = answer.get("code")
    return code if isinstance(code, str) and code else None
