"""Apps that authenticate with a signed JWT at the token endpoint (RFC 7523, OpenID Connect
Core 9): ``client_secret_jwt`` (HMAC with the app's secret) and ``private_key_jwt`` (the app's
public keys from its ``jwks`` or ``jwks_uri``).

An assertion must name the app as ``iss`` and ``sub``, Ferry's token endpoint or issuer as
``aud``, carry an ``exp`` and a ``jti``; a ``jti`` is accepted once per app (stored until the
assertion expires), so a captured assertion cannot be replayed.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta

import requests
from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from flask import current_app, url_for
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OctKey
from peewee import IntegrityError

from models import ClientAssertion, db, utcnow

log = logging.getLogger(__name__)

#: Longest an assertion may claim to live (authlib's client signs for an hour); later ``exp``
#: values are refused. Each ``jti`` is kept this long, so the replay window stays closed.
MAX_ASSERTION_LIFETIME = 3600
JWKS_CACHE_SECONDS = 300
JWKS_MAX_BYTES = 64 * 1024
_jwks_cache: dict[str, tuple[float, dict]] = {}


class ClientAssertionAuth(JWTBearerClientAssertion):
    """One of the two JWT methods; it answers only for apps registered with it."""

    def __init__(self, method: str) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self.CLIENT_AUTH_METHOD = method

    def __call__(self, query_client, request):
        if request.form.get("client_assertion_type") != self.CLIENT_ASSERTION_TYPE:
            return None
        assertion = request.form.get("client_assertion")
        if not isinstance(assertion, str) or len(assertion) > 8192:
            raise InvalidClientError(description="Invalid JWT assertion.")
        _headers, claims = self.extract_assertion(assertion)
        client = query_client(claims.get("sub")) if isinstance(claims.get("sub"), str) else None
        if client is None or client.auth_method != self.CLIENT_AUTH_METHOD:
            return None  # another method's, or nobody's: the next method decides
        return super().__call__(query_client, request)

    def get_audiences(self) -> list[str]:
        issuer = current_app.config["ISSUER"]
        return [issuer + url_for("oidc.token"), issuer]

    def verify_claims(self, claims) -> None:
        super().verify_claims(claims)
        if claims["exp"] - time.time() > MAX_ASSERTION_LIFETIME:
            raise InvalidClientError(description="The assertion lives too long.")

    def validate_jti(self, claims, jti) -> bool:
        if not isinstance(jti, str) or not jti or len(jti) > 255 or not jti.isprintable():
            return False
        expires = datetime.fromtimestamp(int(claims["exp"]), UTC).replace(tzinfo=None)
        expires += timedelta(seconds=self.leeway)
        try:
            with db.atomic():
                ClientAssertion.create(client=claims["sub"], jti=jti, expires_at=expires)
        except IntegrityError:
            return False
        return True

    def resolve_client_public_key(self, client):
        if self.CLIENT_AUTH_METHOD == "client_secret_jwt":
            secret = client.client_secret()
            if not secret:
                raise InvalidClientError(description="The client has no usable secret.")
            return OctKey.import_key(secret)
        return KeySet.import_key_set(client_jwks(client))


def client_jwks(client) -> dict:
    """The app's public keys: its ``jwks``, or its ``jwks_uri`` fetched with a timeout (cached)."""
    inline = client.setting("jwks", None)
    if inline:
        return inline
    uri = client.setting("jwks_uri", None)
    if not uri:
        raise InvalidClientError(description="The client has no public keys.")
    hit = _jwks_cache.get(uri)
    if hit and time.monotonic() - hit[0] < JWKS_CACHE_SECONDS:
        return hit[1]
    try:
        response = requests.get(uri, timeout=(3, 5), allow_redirects=False, stream=True)
        body = response.raw.read(JWKS_MAX_BYTES + 1, decode_content=True)
        if response.status_code != 200 or len(body) > JWKS_MAX_BYTES:
            raise ValueError(f"HTTP {response.status_code}, {len(body)} bytes")
        document = json.loads(body)
        KeySet.import_key_set(document)
    except (requests.RequestException, ValueError, TypeError, KeyError, JoseError) as error:
        log.warning("jwks_uri of %s unusable: %s", client.client_id, error)
        raise InvalidClientError(description="The client's jwks_uri could not be read.") from None
    _jwks_cache[uri] = (time.monotonic(), document)
    return document


def purge_assertions() -> int:
    """Forget spent ``jti`` values whose assertions have expired anyway."""
    return ClientAssertion.delete().where(ClientAssertion.expires_at <= utcnow()).execute()
