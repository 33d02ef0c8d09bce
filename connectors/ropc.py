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
* ``mapping``, ``display_name``, ``connect_timeout``, ``read_timeout``: as every connector.

Outcomes: ``invalid_grant`` is a wrong password or unknown user. Every other error
(``invalid_client``, ``unauthorized_client``, ``invalid_scope``...), a 5xx, a 429, a body that is
not JSON or a token answer without ``access_token`` means the legacy side is unavailable or
misconfigured, and is logged for the operator.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pydantic import Field, field_validator

from connectors.base import (
    ConnectorSettings,
    ExternalIdentity,
    InvalidCredentials,
    PasswordConnector,
)
from connectors.http import LegacyHttp

log = logging.getLogger(__name__)


def _http_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("https://", "http://")):
        raise ValueError("must be an http(s) URL")
    return value


class RopcSettings(ConnectorSettings):
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

    _urls = field_validator("token_url", "userinfo_url", "jwks_uri")(_http_url)


class RopcConnector(PasswordConnector):
    type = "ropc"
    Settings = RopcSettings
    settings: RopcSettings

    def __init__(self, name: str, settings: RopcSettings, config: Any) -> None:
        super().__init__(name, settings, config)
        self.http = LegacyHttp(name, self.connect_timeout, self.read_timeout, settings)
        self._jwks: KeySet | None = None

    # -- the grant ------------------------------------------------------------------------
    def verify(self, identifier: str, password: str) -> ExternalIdentity:
        token = self.request_token(self.grant_form(identifier, password))
        claims = self.claims_from_token(token)
        if self.settings.userinfo_url:
            profile = self.userinfo(token["access_token"])
            # OpenID Connect Core 5.3.2: userinfo for another subject must not be used.
            if "sub" in claims and profile.get("sub") != claims["sub"]:
                raise self.unavailable("userinfo 'sub' differs from the id_token 'sub'")
            claims.update(profile)
        subject = claims.get(self.settings.subject_claim)
        if subject in (None, ""):
            raise self.unavailable(
                f"no {self.settings.subject_claim!r} claim in the legacy profile "
                "(set userinfo_url or subject_claim)"
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
        client_id, secret = client or (self.settings.client_id, self.settings.client_secret)
        auth = None
        if self.settings.client_auth == "basic":
            auth = (client_id or "", secret or "")
        else:
            form = {**form, "client_id": client_id or ""}
            if self.settings.client_auth == "post" and secret:
                form["client_secret"] = secret
        response = self.http.request(
            "POST", self.settings.token_url, data=form, auth=auth,
            headers={"Accept": "application/json"},
        )
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
        response = self.http.request(
            "GET", self.settings.userinfo_url,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
        if response.status_code != 200:
            raise self.unavailable(f"userinfo answered {response.status_code}")
        return self.http.json(response)
