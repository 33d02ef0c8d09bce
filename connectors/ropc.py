"""OAuth 2.0 password grant (RFC 6749 section 4.3) at any token endpoint: type ``ropc``.

Setup at the legacy IDP: register a confidential client allowed to use the ``password`` grant
and note its id and secret; if the IDP has a userinfo endpoint, give the client the scopes that
release the profile (usually ``openid email profile``).

Settings (``[connectors.<name>]``, ``type = "ropc"``):

* ``token_url``: the token endpoint.
* ``userinfo_url`` (optional): read the profile here with the access token.
* ``client_id``, ``client_secret`` (use ``"env:NAME"``), ``client_auth``: ``basic`` (HTTP Basic,
  the default), ``post`` (in the form body) or ``none`` (public client).
* ``scope`` (default ``openid email profile``) and ``extra_params`` (sent with the grant).
* ``subject_claim`` (default ``sub``): the claim that identifies the user for good.
* ``jwks_uri`` and ``issuer`` (optional): verify an ID token in the answer. Without them an ID
  token is read unverified, which OpenID Connect allows for tokens received directly from the
  token endpoint over TLS; prefer ``userinfo_url`` or set ``jwks_uri``.
* ``lookup_url``, ``lookup_param``, ``lookup_scope`` (optional): find a user who has not
  migrated yet by e-mail, without a password (one-time codes, forgot-password); see below.
* ``mapping``, ``display_name``, ``connect_timeout``, ``read_timeout``: as every connector.

Outcomes: ``invalid_grant`` is a wrong password or unknown user. Every other error
(``invalid_client``, ``unauthorized_client``, ``invalid_scope``...), a 5xx, a 429, a body that is
not JSON or a token answer without ``access_token`` means the legacy side is unavailable or
misconfigured, and is logged for the operator.

Looking users up (``lookup_url``)
=================================

With ``lookup_url`` set, the connector can look users up (``supports_lookup``), as the user
search of an IDP's admin API does (Auth0's ``users-by-email``, Keycloak's ``users?email=``,
SCIM). Setup at the legacy IDP: let the same client use the ``client_credentials`` grant and give
it the right to read users (``lookup_scope``, or whatever role the IDP uses). Ferry then:

1. gets an access token from ``token_url`` with ``grant_type=client_credentials`` (the client
   authenticates as for the password grant; ``scope=<lookup_scope>`` when set) and keeps it
   until shortly before its ``expires_in`` (5 minutes without one);
2. sends ``GET <lookup_url>?<lookup_param>=<e-mail>`` (``lookup_param`` defaults to ``email``;
   parameters already in ``lookup_url``, such as Keycloak's ``exact=true``, are kept) with
   ``Authorization: Bearer <token>``;
3. reads the answer: ``200`` with the user's claims as a JSON object, or a list of zero or one
   objects; ``404`` or ``[]`` means not found. The claims are those a password sign-in reads
   (``subject_claim``, the mapping's ``email``...), so the user found here and the user who
   later signs in with the password are the same local user.

A ``401`` with a kept token (the IDP restarted or revoked it) is retried once with a new
token. An answer for another address than the one asked for (an IDP that searches by prefix or
substring) is ignored and logged; more than one user for the address counts as not found and is
logged (Ferry cannot tell whom the address belongs to). Anything else is *unavailable* with the
reason logged for the operator: ``401`` or ``403`` at ``lookup_url``, a token endpoint that
refuses the ``client_credentials`` grant (``unauthorized_client``, ``invalid_scope``), another
status, a 5xx or 429, a timeout, a body that is not JSON. Refusals of Ferry's own settings are
not counted by the circuit breaker (a lookup misconfiguration must not shut password sign-ins
out); outages are.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pydantic import Field, field_validator, model_validator

from connectors.base import (
    ConnectorSettings,
    ExternalIdentity,
    InvalidCredentials,
    PasswordConnector,
)
from connectors.http import LegacyHttp, parse_json
from users.identifiers import normalise_email
from users.mapping import map_claims

log = logging.getLogger(__name__)


def _http_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("https://", "http://")):
        raise ValueError("must be an http(s) URL")
    return value


class RopcSettings(ConnectorSettings):
    """``[connectors.<name>]`` of ``type = "ropc"`` (see the module docstring)."""

    token_url: str
    userinfo_url: str | None = None
    client_id: str
    client_secret: str | None = None
    client_auth: Literal["basic", "post", "none"] = "basic"
    scope: str = "openid email profile"
    extra_params: dict[str, str] = Field(default_factory=dict)
    subject_claim: str = "sub"
    jwks_uri: str | None = None
    issuer: str | None = None
    lookup_url: str | None = Field(None, description="Find users by e-mail here (GET, "
                                   "client-credentials token); unset: no lookups.")
    lookup_param: str = Field("email", min_length=1, description="Query parameter of lookup_url "
                              "that carries the e-mail address.")
    lookup_scope: str | None = Field(None, min_length=1, description="Scope asked for with the "
                                     "client-credentials grant; unset: the IDP's default.")

    _urls = field_validator("token_url", "userinfo_url", "jwks_uri", "lookup_url")(_http_url)

    @model_validator(mode="after")
    def _lookup_needs_a_confidential_client(self) -> RopcSettings:
        if self.lookup_url and (self.client_auth == "none" or not self.client_secret):
            raise ValueError("lookup_url needs client_secret (and client_auth basic or post): the "
                             "client-credentials grant is for confidential clients only")
        return self


class RopcConnector(PasswordConnector):
    """The password grant at ``token_url``, and the user lookup at ``lookup_url`` when set."""

    type = "ropc"
    Settings = RopcSettings
    settings: RopcSettings

    def __init__(self, name: str, settings: RopcSettings, config: Any) -> None:
        super().__init__(name, settings, config)
        self.http = LegacyHttp(name, self.connect_timeout, self.read_timeout, settings)
        self._jwks: KeySet | None = None
        # Per instance: only with a lookup_url (vendor subclasses' settings have none).
        self.supports_lookup = bool(getattr(settings, "lookup_url", None))  # type: ignore[misc]
        self._service_token: _ServiceToken | None = None
        self._service_token_lock = threading.Lock()

    # -- the grant ------------------------------------------------------------------------
    def verify(self, identifier: str, password: str) -> ExternalIdentity:
        """The password grant for the pair; the profile from the ID token and userinfo."""
        token = self.request_token(self.grant_form(identifier, password))
        claims = self.claims_from_token(token)
        if self.settings.userinfo_url:
            profile = self.userinfo(token["access_token"])
            # OpenID Connect Core 5.3.2: userinfo for another subject must not be used.
            if "sub" in claims and profile.get("sub") != claims["sub"]:
                raise self.unavailable("userinfo 'sub' differs from the id_token 'sub'")
            claims.update(profile)
        return self.identity_from_claims(claims, "set userinfo_url or subject_claim")

    def identity_from_claims(self, claims: dict[str, Any], hint: str,
                             outage: bool = True) -> ExternalIdentity:
        """The identity whose subject is ``subject_claim`` of ``claims`` (password sign-in and
        lookup alike, so both find the same local user); unavailable without it."""
        subject = claims.get(self.settings.subject_claim)
        if subject in (None, ""):
            raise self.unavailable(
                f"no {self.settings.subject_claim!r} claim in the legacy profile ({hint})",
                outage=outage,
            )
        return ExternalIdentity(self.name, str(subject), claims)

    def grant_form(self, identifier: str, password: str) -> dict[str, str]:
        """The form posted to the token endpoint; vendor connectors override this hook."""
        form = {"grant_type": "password", "username": identifier, "password": password}
        if self.settings.scope:
            form["scope"] = self.settings.scope
        form.update(self.settings.extra_params)
        return form

    def request_token(self, form: dict[str, str],
                      client: tuple[str | None, str | None] | None = None) -> dict[str, Any]:
        """Post ``form`` to the token endpoint as ``client`` (id, secret; default: the settings')."""
        response = self.post_to_token_endpoint(form, client)
        if response.status_code >= 500 or response.status_code == 429:
            raise self.unavailable(f"token endpoint answered {response.status_code}")
        body = self.http.json(response)
        if response.status_code == 200:
            if not isinstance(body.get("access_token"), str):
                said = f" but an error body ({str(body['error'])[:100]!r})" if "error" in body else ""
                raise self.unavailable(f"token answer without an access_token{said}")
            return body
        self.raise_for_error(response.status_code, body)
        raise self.unavailable(f"token endpoint answered {response.status_code}")

    def post_to_token_endpoint(self, form: dict[str, str],
                               client: tuple[str | None, str | None] | None = None) -> Any:
        """The token endpoint's raw answer to ``form``, the client authenticated per
        ``client_auth``; the caller reads it."""
        client_id, secret = client or (self.settings.client_id, self.settings.client_secret)
        auth = None
        if self.settings.client_auth == "basic":
            auth = (client_id or "", secret or "")
        else:
            form = {**form, "client_id": client_id or ""}
            if self.settings.client_auth == "post" and secret:
                form["client_secret"] = secret
        return self.http.request("POST", self.settings.token_url, data=form, auth=auth,
                                 headers={"Accept": "application/json"})

    def raise_for_error(self, status: int, body: dict[str, Any]) -> None:
        """Map an OAuth error answer; vendor connectors extend it with their own codes."""
        error = body.get("error")
        if error == "invalid_grant":
            raise InvalidCredentials()
        log.error(
            "connector %s: token endpoint refused Ferry itself (%s, %s): check its settings",
            self.name, status, error,
        )
        raise self.unavailable(f"token endpoint error {error!r} (HTTP {status})")

    # -- the profile ----------------------------------------------------------------------
    def claims_from_token(self, token: dict[str, Any]) -> dict[str, Any]:
        """The claims of the token answer's ID token (verified with ``jwks_uri``), else {}."""
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            return {}
        try:
            if self.settings.jwks_uri:
                claims = self._verified_claims(id_token)
            else:
                claims = json.loads(jws.extract_compact(id_token.encode()).payload)
        except (JoseError, ValueError, RecursionError) as error:
            raise self.unavailable(f"unusable id_token: {type(error).__name__}") from None
        if not isinstance(claims, dict):
            raise self.unavailable("unusable id_token: its payload is not a JSON object")
        return claims

    def _verified_claims(self, id_token: str) -> dict[str, Any]:
        try:
            token = jwt.decode(id_token, self._keys())
        except JoseError:
            # Perhaps the legacy IDP rotated its keys: fetch them once more before refusing.
            self._jwks = None
            token = jwt.decode(id_token, self._keys())
        expected = {"aud": {"essential": True, "value": self.settings.client_id}}
        if self.settings.issuer:
            expected["iss"] = {"essential": True, "value": self.settings.issuer}
        jwt.JWTClaimsRegistry(**expected).validate(token.claims)
        return dict(token.claims)

    def _keys(self) -> KeySet:
        if self._jwks is None:
            response = self.http.request("GET", self.settings.jwks_uri)
            if response.status_code != 200:
                raise self.unavailable(f"jwks_uri answered {response.status_code}")
            key_set = self.http.json(response)
            if not isinstance(key_set.get("keys"), list):
                raise self.unavailable("jwks_uri answered JSON without a 'keys' list")
            self._jwks = KeySet.import_key_set(key_set)
        return self._jwks

    def userinfo(self, access_token: str) -> dict[str, Any]:
        """The profile ``userinfo_url`` answers for the user's access token."""
        response = self.http.request(
            "GET", self.settings.userinfo_url,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
        if response.status_code != 200:
            raise self.unavailable(f"userinfo answered {response.status_code}")
        return self.http.json(response)

    # -- looking users up (lookup_url) ----------------------------------------------------
    def lookup(self, identifier: str) -> ExternalIdentity | None:
        """The user whose e-mail is ``identifier``, from ``lookup_url``; None when unknown."""
        token, kept = self.service_token()
        response = self._ask_lookup_url(identifier, token)
        if response.status_code == 401 and kept:
            # Revoked or forgotten by the IDP (a restart) before it expired: once more, anew.
            self._forget_service_token(token)
            token, _ = self.service_token()
            response = self._ask_lookup_url(identifier, token)
        return self._found(self._lookup_answer(response), identifier)

    def service_token(self) -> tuple[str, bool]:
        """An access token of Ferry's own (client-credentials grant) and whether it was kept."""
        with self._service_token_lock:
            kept = self._service_token
        if kept is not None and time.monotonic() < kept.renew_at:
            return kept.value, True
        form = {"grant_type": "client_credentials"}
        if self.settings.lookup_scope:
            form["scope"] = self.settings.lookup_scope
        asked_at = time.monotonic()
        response = self.post_to_token_endpoint(form)
        if response.status_code >= 500 or response.status_code == 429:
            raise self.unavailable(f"token endpoint answered {response.status_code} to the "
                                   "client-credentials grant (for lookup_url)")
        body = self.http.json(response)
        token = body.get("access_token")
        if response.status_code != 200 or not isinstance(token, str) or not token:
            error = str(body.get("error"))[:100] if "error" in body else None
            log.error("connector %s: the token endpoint refused Ferry's client-credentials grant "
                      "(HTTP %s, error %r): lookup_url needs client %r to be allowed the "
                      "client_credentials grant%s", self.name, response.status_code, error,
                      self.settings.client_id,
                      f" with scope {self.settings.lookup_scope!r}" if self.settings.lookup_scope
                      else "")
            raise self.unavailable(f"client-credentials grant refused for lookup_url (HTTP "
                                   f"{response.status_code}, error {error!r})", outage=False)
        lifetime = body.get("expires_in")
        if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
            lifetime = SERVICE_TOKEN_DEFAULT_LIFETIME
        renew_at = asked_at + lifetime - min(SERVICE_TOKEN_MARGIN, lifetime / 10)
        with self._service_token_lock:
            self._service_token = _ServiceToken(token, renew_at)
        return token, False

    def _forget_service_token(self, token: str) -> None:
        with self._service_token_lock:
            if self._service_token is not None and self._service_token.value == token:
                self._service_token = None

    def _ask_lookup_url(self, identifier: str, token: str) -> Any:
        return self.http.request(
            "GET", self.settings.lookup_url, params={self.settings.lookup_param: identifier},
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            about=self.settings.lookup_url,  # not the URL with the address in it
        )

    def _lookup_answer(self, response: Any) -> list[dict[str, Any]]:
        """The users ``lookup_url`` answered (``[]``: none), or unavailable."""
        status, where = response.status_code, "lookup_url"
        if status == 404:
            return []
        if status != 200:
            challenge = response.headers.get("WWW-Authenticate", "")
            said = f" ({challenge[:120]})" if challenge else ""
            if status in (401, 403):
                log.error("connector %s: lookup_url refused Ferry's client-credentials token "
                          "(HTTP %s%s): give client %r the right to read users%s", self.name,
                          status, said, self.settings.client_id,
                          f" (scope {self.settings.lookup_scope!r})" if self.settings.lookup_scope
                          else " (or set lookup_scope)")
            raise self.unavailable(f"{where} answered {status}{said}",
                                   outage=status >= 500 or status == 429)
        try:
            body = parse_json(response.content)
        except ValueError as error:
            content_type = response.headers.get("Content-Type", "none")
            raise self.unavailable(f"{where} answered 200 with {content_type}, not JSON: "
                                   f"{str(error)[:100]}") from None
        users = body if isinstance(body, list) else [body]
        if not all(isinstance(user, dict) for user in users):
            raise self.unavailable(f"{where} answered JSON that is neither an object nor a list "
                                   "of objects", outage=False)
        return users

    def _found(self, users: list[dict[str, Any]], identifier: str) -> ExternalIdentity | None:
        """The one user of ``users`` whose address is ``identifier``, else None (logged)."""
        if "email" in self.mapping:
            wanted = normalise_email(identifier)
            matching = [u for u in users if map_claims(u, self.mapping).get("email") == wanted]
            if len(matching) < len(users):
                log.warning("connector %s: lookup_url answered %d user(s) with another e-mail "
                            "address than the one asked for; ignored (does it search by prefix?)",
                            self.name, len(users) - len(matching))
            users = matching
        if len(users) > 1:
            log.warning("connector %s: lookup_url answered %d users for one e-mail address; "
                        "treated as not found (no one-time code can say whose it is)",
                        self.name, len(users))
            return None
        if not users:
            return None
        return self.identity_from_claims(users[0], "in the lookup_url answer", outage=False)


#: Seconds a client-credentials token is kept when its answer has no ``expires_in``.
SERVICE_TOKEN_DEFAULT_LIFETIME = 300
#: Renewed this long before it expires (at most a tenth of its lifetime).
SERVICE_TOKEN_MARGIN = 30.0


@dataclass(frozen=True)
class _ServiceToken:
    """Ferry's own access token for lookup_url, and when to get the next one (monotonic)."""

    value: str
    renew_at: float
