"""OpenID Connect sign-in at the legacy IdP's own pages ("continue with ..."): type ``oidc``.

The user is sent to the legacy IdP (authorization code flow with PKCE S256 and a nonce), signs
in there, and comes back to Ferry's callback; Ferry exchanges the code, checks the ID token and
reads the profile, and the journey migrates the user on the way back.

Setup at the legacy IdP: register a *web* application (a confidential client) with

* redirect URI (callback) ``{Ferry's issuer}/federate/<name>/callback``, where ``<name>`` is the
  connector's name in ``[connectors.<name>]``, e.g. ``https://login.example.com/federate/corp/callback``;
* the authorization code grant, and the scopes ``openid email profile`` (or those you set);
* client authentication by secret (``client_secret_basic`` or ``client_secret_post``) or by a
  key (``private_key_jwt``); note the client id and secret.

Settings (``[connectors.<name>]``, ``type = "oidc"``):

* ``preset``: ``google``, ``apple``, ``microsoft``, ``auth0``, ``okta``, ``keycloak``,
  ``pingfederate`` or ``pingone`` (see ``connectors/oidc/presets.py``); without one, ``issuer``
  is required.
* ``issuer``: the IdP's issuer URL. Its discovery document
  (``{issuer}/.well-known/openid-configuration``) must name exactly this issuer. With a preset it
  is derived; set it only to override (a sovereign cloud, a vanity domain).
* ``client_id``, ``client_secret`` (use ``"env:NAME"``).
* ``client_auth``: ``client_secret_basic``, ``client_secret_post``, ``private_key_jwt`` (with
  ``private_key`` and ``key_id``) or ``none``; default: what the discovery document lists first of
  basic and post (basic when it lists none).
* ``scope`` (default ``openid email profile``; Apple ``openid name email``; must hold ``openid``).
* ``response_mode``: ``query`` (default) or ``form_post`` (the IdP posts the answer to the
  callback; forced for Apple when the name or e-mail is requested).
* ``acr_values``, ``claims`` (the OpenID ``claims`` request parameter, as a table or JSON text),
  ``extra_authorize_params`` (more query parameters for the authorization request, e.g.
  ``prompt``, ``login_hint``, ``hd``; never the ones Ferry sets itself).
* ``subject_claim`` (default ``sub``): the claim that links the user for good.
* ``use_userinfo`` (default true): read the userinfo endpoint too; its ``sub`` must be the ID
  token's. Its claims are merged over the ID token's.
* ``clock_skew`` (default 60): seconds of leeway for the ID token's ``exp``, ``iat`` and ``nbf``.
* ``metadata_ttl`` (default 3600): seconds the discovery document and the keys are cached; the
  keys are fetched again at once when an ID token names a key that is not known yet.
* Presets: ``tenant`` (microsoft), ``domain`` (auth0, okta), ``authorization_server`` (okta:
  ``default``, another custom server id, or ``org``), ``base_url`` and ``realm`` (keycloak;
  ``base_url`` also pingfederate), ``environment_id`` and ``region`` (pingone: ``com``, ``eu``,
  ``ca``, ``asia``, ``com.au`` or ``sg``, default ``com``),
  ``team_id``, ``key_id`` and ``private_key`` (apple; ``key_id`` and ``private_key`` also for
  ``private_key_jwt``).
* ``mapping``, ``display_name``, timeouts, breaker, ``rate_limit``: as every connector.

Outcomes. An error answer (``access_denied``: the user cancelled; ``login_required``...) is a
refusal (:class:`InvalidCredentials`); ``server_error``, ``temporarily_unavailable``, an answer
that says Ferry's own request was wrong (``invalid_request``, ``unauthorized_client``...), a
discovery document, key set, token or userinfo endpoint that fails or answers garbage is
:class:`LegacyUnavailable`. An answer that must not be trusted is :class:`FederationRejected`
with its reason (audited): an ``iss`` parameter of another IdP (mix-up), a missing ``iss`` where
the IdP promises one, no code, a code the token endpoint refuses (``invalid_grant``: replayed,
forged or bound to another PKCE verifier), an ID token with a bad or unknown signature, an
algorithm not allowed, another issuer or audience, a wrong ``azp``, ``nonce`` or ``at_hash``,
an expired or future ``iat``, or a userinfo answer about another subject. The ``state`` is
Ferry's single-use journey reference: the core refuses a wrong or reused one before this
connector runs. Nothing secret is logged: no code, token, verifier, nonce or secret.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from authlib.common.security import generate_token
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

from connectors.base import (
    ExternalIdentity,
    FederationRejected,
    InvalidCredentials,
    RedirectConnector,
)
from connectors.http import LegacyHttp
from connectors.oidc.presets import checked_url, preset_for
from connectors.oidc.settings import OidcSettings, signing_key

log = logging.getLogger(__name__)

#: ID token algorithms Ferry accepts (asymmetric only; never ``none`` or a shared secret).
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                      "ES256", "ES384", "ES512", "EdDSA")
#: Error codes that mean the user, or the IdP's policy, said no.
REFUSALS = frozenset({
    "access_denied", "login_required", "consent_required", "interaction_required",
    "account_selection_required",
})
#: Error codes that mean the IdP is down or busy.
OUTAGES = frozenset({"server_error", "temporarily_unavailable"})
#: An unknown ``kid`` makes Ferry fetch the keys again at most this often (seconds).
JWKS_REFETCH_INTERVAL = 10.0


class OidcConnector(RedirectConnector):
    type = "oidc"
    Settings = OidcSettings
    settings: OidcSettings

    def __init__(self, name: str, settings: OidcSettings, config: Any) -> None:
        super().__init__(name, settings, config)
        self.http = LegacyHttp(name, self.connect_timeout, self.read_timeout, settings)
        self.preset = preset_for(settings.preset)
        self.issuer = settings.issuer or self.preset.issuer(settings)
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._jwks: KeySet | None = None
        self._jwks_at = 0.0
        self._jwks_refetched_at = float("-inf")

    # -- out to the IdP ---------------------------------------------------------------------
    def destination(self) -> str:
        """The issuer: its authorization endpoint nearly always shares its origin."""
        return self.issuer

    def start(self, reference: str, callback_url: str) -> tuple[str, dict[str, Any]]:
        metadata = self.provider_metadata()
        verifier = generate_token(64)
        nonce = generate_token(32)
        scopes = self.settings.scopes
        params: dict[str, Any] = {
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
            "nonce": nonce,
            "response_mode": self.response_mode(),
            "acr_values": self.settings.acr_values,
            "claims": json.dumps(self.settings.claims) if self.settings.claims else None,
            **self.settings.extra_authorize_params,
        }
        if params["response_mode"] == "query":
            params["response_mode"] = None  # the default of the code flow: leave it out
        url = prepare_grant_uri(
            metadata["authorization_endpoint"], self.settings.client_id, "code",
            redirect_uri=callback_url, scope=" ".join(scopes), state=reference, **params,
        )
        return url, {"issuer": metadata["issuer"], "nonce": nonce, "code_verifier": verifier}

    def response_mode(self) -> str:
        forced = self.preset.response_mode(self.settings, self.settings.scopes)
        return forced or self.settings.response_mode or "query"

    # -- back from the IdP ------------------------------------------------------------------
    def complete(self, params: dict[str, str], state: dict[str, Any],
                 callback_url: str) -> ExternalIdentity:
        issuer, nonce, verifier = (state.get(k) for k in ("issuer", "nonce", "code_verifier"))
        if not (isinstance(issuer, str) and isinstance(nonce, str) and isinstance(verifier, str)):
            raise FederationRejected("the sign-in state is incomplete")
        metadata = self.provider_metadata()
        self._check_iss_parameter(params, issuer, metadata)
        if params.get("error"):
            self._raise_for_error_answer(params["error"])
        code = params.get("code")
        if not code:
            raise FederationRejected("the answer carries neither a code nor an error")
        token = self._exchange(metadata, code, verifier, callback_url)
        claims = self._id_token_claims(token, metadata, issuer, nonce)
        if self.settings.use_userinfo and metadata.get("userinfo_endpoint"):
            profile = self._userinfo(metadata["userinfo_endpoint"], token["access_token"])
            if profile.get("sub") != claims["sub"]:
                raise FederationRejected("userinfo describes another subject than the ID token")
            claims = {**claims, **profile}
        for key, value in self.preset.extra_claims(params).items():
            claims.setdefault(key, value)
        subject = claims.get(self.settings.subject_claim)
        if not isinstance(subject, str | int) or isinstance(subject, bool) or subject == "":
            raise self.unavailable(f"no usable {self.settings.subject_claim!r} claim in the profile")
        return ExternalIdentity(self.name, str(subject), claims)

    def _check_iss_parameter(self, params: dict[str, str], issuer: str,
                             metadata: dict[str, Any]) -> None:
        """RFC 9207: the answer names its issuer; another IdP's answer is a mix-up attack."""
        if "iss" in params:
            if params["iss"] != issuer:
                raise FederationRejected("the answer comes from another issuer (iss parameter)")
        elif metadata.get("authorization_response_iss_parameter_supported") is True:
            raise FederationRejected("the answer lacks the iss parameter this IdP always sends")

    def _raise_for_error_answer(self, error: str) -> None:
        # The error comes through the browser, so it never counts for the circuit breaker
        # (outage=False): anyone could otherwise shut the door for everyone by answering
        # server_error to sign-ins of their own.
        if error in REFUSALS:
            log.info("connector %s: the IdP answered %s", self.name, error)
            raise InvalidCredentials()
        if error in OUTAGES:
            raise self.unavailable(f"the IdP answered {error}", outage=False)
        if len(error) <= 64 and error.replace("_", "").isalnum():
            # invalid_request, unauthorized_client, invalid_scope...: Ferry's request is wrong.
            log.error("connector %s: the IdP refused Ferry's request (%s): check its settings",
                      self.name, error)
            raise self.unavailable(f"the IdP refused the authorization request: {error}",
                                   outage=False)
        raise FederationRejected("the error answer is malformed")

    # -- the token endpoint -----------------------------------------------------------------
    def _exchange(self, metadata: dict[str, Any], code: str, verifier: str,
                  callback_url: str) -> dict[str, Any]:
        token_endpoint = metadata["token_endpoint"]
        body = prepare_token_request("authorization_code", code=code, redirect_uri=callback_url,
                                     code_verifier=verifier)
        headers = {"Accept": "application/json",
                   "Content-Type": "application/x-www-form-urlencoded"}
        _uri, headers, body = self._client_auth(metadata).prepare(
            "POST", token_endpoint, headers, body)
        response = self.http.request("POST", token_endpoint, data=body, headers=headers)
        if response.status_code >= 500 or response.status_code == 429:
            raise self.unavailable(f"token endpoint answered {response.status_code}")
        answer = self.http.json(response)
        if response.status_code != 200:
            error = answer.get("error")
            if error == "invalid_grant":
                raise FederationRejected("the token endpoint refused the code (invalid_grant)")
            log.error("connector %s: token endpoint refused Ferry itself (%s, %s): check its "
                      "settings", self.name, response.status_code, error)
            raise self.unavailable(f"token endpoint error {error!r} (HTTP {response.status_code})")
        if not isinstance(answer.get("access_token"), str):
            raise self.unavailable("token answer without an access_token")
        if not isinstance(answer.get("id_token"), str):
            raise self.unavailable("token answer without an id_token (is openid in scope?)")
        return answer

    def _client_auth(self, metadata: dict[str, Any]) -> ClientAuth:
        method = (self.settings.client_auth or self.preset.default_client_auth
                  or _auth_method_from(metadata))
        client_id = self.settings.client_id
        if method == "private_key_jwt":
            key, alg = signing_key(self.settings.private_key or "")
            headers = {"kid": self.settings.key_id} if self.settings.key_id else None
            return ClientAuth(client_id, key, PrivateKeyJWT(metadata["token_endpoint"], alg=alg,
                                                            headers=headers))
        return ClientAuth(client_id, self.preset.client_secret(self.settings, self.issuer), method)

    # -- the ID token -----------------------------------------------------------------------
    def _id_token_claims(self, token: dict[str, Any], metadata: dict[str, Any], issuer: str,
                         nonce: str) -> dict[str, Any]:
        id_token = token["id_token"]
        try:
            header = jws.extract_compact(id_token.encode()).headers()
        except (JoseError, ValueError, RecursionError):
            raise FederationRejected("the ID token is not a signed JWT") from None
        alg = header.get("alg")
        if alg not in self._allowed_algorithms(metadata):
            raise FederationRejected(f"the ID token is signed with {alg!r}, not an accepted algorithm")
        decoded = self._verified(id_token, metadata, header)
        accepted = self.preset.token_issuers(issuer, decoded.claims)
        if not accepted:  # (an empty list would make the check below accept any issuer)
            raise FederationRejected("the ID token's 'iss' claim is wrong")
        claims = CodeIDToken(
            decoded.claims, decoded.header,
            options={"iss": {"essential": True, "values": accepted},
                     "aud": {"essential": True, "value": self.settings.client_id}},
            params={"nonce": nonce, "client_id": self.settings.client_id,
                    "access_token": token["access_token"]},
        )
        try:
            claims.validate(leeway=self.settings.clock_skew)
        except ExpiredTokenError:
            raise FederationRejected("the ID token has expired") from None
        except MissingClaimError as error:
            raise FederationRejected(f"the ID token lacks the {error.claim!r} claim") from None
        except InvalidClaimError as error:
            raise FederationRejected(f"the ID token's {error.claim!r} claim is wrong") from None
        return dict(decoded.claims)

    def _allowed_algorithms(self, metadata: dict[str, Any]) -> list[str]:
        offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        return [alg for alg in SIGNING_ALGORITHMS if alg in offered]

    def _verified(self, id_token: str, metadata: dict[str, Any], header: dict[str, Any]):
        keys = self._keys(metadata)
        kid = header.get("kid")
        if isinstance(kid, str) and not _has_kid(keys, kid) and self._may_refetch_keys():
            keys = self._keys(metadata, refresh=True)  # the IdP may have rotated its keys
        try:
            return jwt.decode(id_token, keys, algorithms=[header["alg"]])
        except InvalidKeyIdError:
            if not isinstance(kid, str):  # OpenID Connect requires a kid with several keys
                raise FederationRejected("the ID token names no key (kid) of the several the IdP "
                                         "publishes") from None
            raise FederationRejected("the ID token is signed by a key the IdP does not publish") \
                from None
        except BadSignatureError:
            raise FederationRejected("the ID token's signature does not verify") from None
        except (JoseError, ValueError) as error:
            raise FederationRejected(f"the ID token is unusable ({type(error).__name__})") from None

    def _may_refetch_keys(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._jwks_refetched_at < JWKS_REFETCH_INTERVAL:
                return False
            self._jwks_refetched_at = now
            return True

    # -- what the IdP publishes -------------------------------------------------------------
    def provider_metadata(self) -> dict[str, Any]:
        """The discovery document (cached ``metadata_ttl`` seconds), checked."""
        cached, fetched_at = self._metadata, self._metadata_at
        if cached is not None and time.monotonic() - fetched_at < self.settings.metadata_ttl:
            return cached
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        response = self.http.request("GET", url, headers={"Accept": "application/json"})
        if response.status_code != 200:
            raise self.unavailable(f"discovery document answered {response.status_code}")
        document = self.http.json(response)
        discovered = document.get("issuer")
        if not isinstance(discovered, str) or not self.preset.discovery_issuer_ok(
                self.settings, self.issuer, discovered):
            log.error("connector %s: the discovery document at %s names issuer %r, not %r",
                      self.name, url, discovered, self.issuer)
            raise self.unavailable("the discovery document names another issuer")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"):
            if key == "userinfo_endpoint" and document.get(key) is None:
                continue  # optional (Apple has none)
            if not _usable_url(document.get(key)):
                raise self.unavailable(f"the discovery document has no usable {key}")
        with self._lock:
            self._metadata, self._metadata_at = document, time.monotonic()
        return document

    def _keys(self, metadata: dict[str, Any], refresh: bool = False) -> KeySet:
        cached, fetched_at = self._jwks, self._jwks_at
        if (not refresh and cached is not None
                and time.monotonic() - fetched_at < self.settings.metadata_ttl):
            return cached
        response = self.http.request("GET", metadata["jwks_uri"],
                                     headers={"Accept": "application/json"})
        if response.status_code != 200:
            raise self.unavailable(f"jwks_uri answered {response.status_code}")
        document = self.http.json(response)
        keys = document.get("keys")
        if not isinstance(keys, list):
            raise self.unavailable("jwks_uri answered JSON without a 'keys' list")
        # Keep the signature keys Ferry can use; skip encryption keys and unknown types.
        usable = [key for key in keys if isinstance(key, dict) and key.get("use", "sig") == "sig"
                  and key.get("kty") in ("RSA", "EC", "OKP")]
        try:
            key_set = KeySet.import_key_set({"keys": usable})
        except (JoseError, ValueError, TypeError) as error:
            raise self.unavailable(f"jwks_uri answered unusable keys ({type(error).__name__})") \
                from None
        with self._lock:
            self._jwks, self._jwks_at = key_set, time.monotonic()
        return key_set

    def _userinfo(self, url: str, access_token: str) -> dict[str, Any]:
        response = self.http.request(
            "GET", url, headers={"Authorization": f"Bearer {access_token}",
                                 "Accept": "application/json"},
        )
        if response.status_code != 200:
            raise self.unavailable(f"userinfo answered {response.status_code}")
        if response.headers.get("Content-Type", "").startswith("application/jwt"):
            raise self.unavailable("userinfo answered a signed JWT: turn signed userinfo off "
                                   "for Ferry's client, or set use_userinfo = false")
        return self.http.json(response)


def _usable_url(value: Any) -> bool:
    try:
        return isinstance(value, str) and checked_url(value) is not None
    except ValueError:
        return False


def _auth_method_from(metadata: dict[str, Any]) -> str:
    """OpenID Discovery: the default is client_secret_basic when the IdP lists no methods."""
    offered = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    for method in ("client_secret_basic", "client_secret_post"):
        if method in offered:
            return method
    return "client_secret_basic"


def _has_kid(keys: KeySet, kid: str) -> bool:
    try:
        keys.get_by_kid(kid)
    except (InvalidKeyIdError, ValueError):
        return False
    return True

