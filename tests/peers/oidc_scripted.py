"""A scripted OpenID Provider on loopback that answers with ID tokens each test crafts.

The real peer (``tests/peers/oidc_provider``) only ever sends good answers. To prove that Ferry
refuses bad ones, :class:`ScriptedOidcProvider` serves a discovery document, a key set, a token
endpoint and a userinfo endpoint over real HTTP (``tests/connectors/scripted_idp.py``), while
the test plays the browser: it reads Ferry's authorization request, lets :meth:`authorize` issue
a code for it, and sends the answer to Ferry's callback::

    with ScriptedOidcProvider() as idp:
        params = idp.authorize(authorize_url)          # {"code", "state", "iss"}
        idp.id_token_claims["nonce"] = "not-the-one-sent"  # or aud, exp, iss...
        idp.sign_with = RSAKey.generate_key(2048, parameters={"kid": "k1"})  # a forger's key
        client.get("/federate/corp/callback?" + urlencode(params))

Its token endpoint behaves like a real one: it checks the client's authentication, that the
code is one it issued, unused, for the same redirect URI, and that the PKCE verifier matches
the challenge (``invalid_grant`` otherwise). ID tokens are signed with joserfc.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from tests.connectors.scripted_idp import Recorded, Reply, ScriptedIdp

CLIENT_ID = "ferry-scripted"
CLIENT_SECRET = "scripted-client-secret-0123456789"
#: Delete a claim from the crafted ID token by setting it to this.
DROP = object()


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str | None
    used: bool = False


class ScriptedOidcProvider:
    def __init__(self, client_id: str = CLIENT_ID,
                 client_secret: str | Callable[[str], bool] = CLIENT_SECRET,
                 issuer_path: str = "") -> None:
        self.client_id = client_id
        #: The secret, or a check of the one received (a generated JWT, as Apple's).
        self.client_secret = client_secret
        self.issuer_path = issuer_path
        self.http = ScriptedIdp()
        self.key = RSAKey.generate_key(2048, parameters={"kid": "scripted-1", "use": "sig"})
        #: Keys served at the JWKS endpoint.
        self.published: list[RSAKey | ECKey] = [self.key]
        #: Key the next ID tokens are signed with (a forger's key, a rotated one...).
        self.sign_with: RSAKey | ECKey = self.key
        self.alg = "RS256"
        self.header: dict[str, Any] = {}
        #: Claims laid over the ID token's (``DROP`` removes one).
        self.id_token_claims: dict[str, Any] = {}
        self.profile: dict[str, Any] = {
            "sub": "scripted-alice", "email": "alice@example.com", "email_verified": True,
            "given_name": "Alice", "family_name": "Liddell", "name": "Alice Liddell",
        }
        #: Claims laid over the userinfo answer.
        self.userinfo_claims: dict[str, Any] = {}
        #: Keys laid over the discovery document (e.g. a token_endpoint that is down).
        self.discovery_overrides: dict[str, Any] = {}
        self.grants: dict[str, Grant] = {}
        self.access_tokens: set[str] = set()
        #: Who authenticated at the token endpoint, and how: a verifier for the assertion.
        self.client_assertion_key: RSAKey | ECKey | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> ScriptedOidcProvider:
        self.http.start()
        self.http.routes.update({
            f"{self.issuer_path}/.well-known/openid-configuration":
                lambda _r: Reply(200, self.discovery()),
            "/jwks": lambda _r: Reply(200, {"keys": [k.as_dict(private=False)
                                                     for k in self.published]}),
            "/token": self._token,
            "/userinfo": self._userinfo,
        })
        return self

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ScriptedOidcProvider:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def issuer(self) -> str:
        return self.http.base_url + self.issuer_path

    def url(self, path: str) -> str:
        return self.http.base_url + path

    def calls(self, path: str) -> list[Recorded]:
        return self.http.calls(path)

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.url("/authorize"),
            "token_endpoint": self.url("/token"),
            "jwks_uri": self.url("/jwks"),
            "userinfo_endpoint": self.url("/userinfo"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post",
                                                      "private_key_jwt"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
            **self.discovery_overrides,
        }

    # -- the browser's part -------------------------------------------------------------------
    def authorize(self, authorize_url: str) -> dict[str, str]:
        """Accept Ferry's authorization request; return the answer for its callback."""
        query = dict(parse_qsl(urlsplit(authorize_url).query))
        assert authorize_url.startswith(self.url("/authorize?")), authorize_url
        assert query["response_type"] == "code" and query["client_id"] == self.client_id, query
        assert query.get("code_challenge_method") == "S256", query
        code = secrets.token_urlsafe(24)
        self.grants[code] = Grant(query["client_id"], query["redirect_uri"], query.get("nonce"),
                                  query.get("code_challenge"))
        return {"code": code, "state": query["state"], "iss": self.issuer}

    def id_token(self, grant: Grant, access_token: str | None = None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer, "sub": self.profile["sub"], "aud": grant.client_id,
            "iat": now, "exp": now + 300, "nonce": grant.nonce,
            "email": self.profile["email"],
        }
        claims.update(self.id_token_claims)
        claims = {k: v for k, v in claims.items() if v is not DROP}
        header = {"alg": self.alg, "kid": self.sign_with.kid, **self.header}
        header = {k: v for k, v in header.items() if v is not None}
        return jwt.encode(header, claims, self.sign_with, algorithms=[self.alg])

    # -- endpoints ----------------------------------------------------------------------------
    def _token(self, request: Recorded) -> Reply:
        form = request.form()
        if not self._client_authenticated(request, form):
            return Reply(401, {"error": "invalid_client"})
        grant = self.grants.get(form.get("code", ""))
        if form.get("grant_type") != "authorization_code" or grant is None or grant.used:
            return Reply(400, {"error": "invalid_grant"})
        grant.used = True
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if (grant.code_challenge != challenge.rstrip(b"=").decode()
                or form.get("redirect_uri") != grant.redirect_uri):
            return Reply(400, {"error": "invalid_grant"})
        access_token = secrets.token_urlsafe(24)
        self.access_tokens.add(access_token)
        return Reply(200, {"access_token": access_token, "token_type": "Bearer",
                           "expires_in": 300, "id_token": self.id_token(grant, access_token)})

    def _client_authenticated(self, request: Recorded, form: dict[str, str]) -> bool:
        if form.get("client_assertion"):
            if self.client_assertion_key is None:
                return False
            try:
                token = jwt.decode(form["client_assertion"], self.client_assertion_key,
                                   algorithms=["RS256", "ES256"])
                jwt.JWTClaimsRegistry(
                    iss={"essential": True, "value": self.client_id},
                    sub={"essential": True, "value": self.client_id},
                    aud={"essential": True, "value": self.url("/token")},
                    exp={"essential": True}, jti={"essential": True},
                ).validate(token.claims)
            except JoseError:  # a bad assertion is a refused client, as at a real server
                return False
            return True
        basic = request.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        return client_id == self.client_id and self._secret_ok(secret)

    def _secret_ok(self, secret: str) -> bool:
        if callable(self.client_secret):
            return self.client_secret(secret)
        return secrets.compare_digest(secret, self.client_secret)

    def _userinfo(self, request: Recorded) -> Reply:
        bearer = request.headers.get("Authorization", "")
        if not bearer.startswith("Bearer ") or bearer[7:] not in self.access_tokens:
            return Reply(401, {"error": "invalid_token"})
        return Reply(200, {**self.profile, **self.userinfo_claims})
