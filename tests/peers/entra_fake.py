"""A faithful fake of Microsoft Entra ID's v2.0 token endpoint (ROPC) for the ``entra`` tests.

Entra is SaaS and cannot run here, so this small real HTTP server on 127.0.0.1 (a Flask app
served by werkzeug in a thread) implements what Ferry uses, as Microsoft documents it:

* ``POST /{tenant}/oauth2/v2.0/token`` with ``grant_type=password``, ``client_id``, ``scope``,
  ``username``, ``password`` and, for a confidential app, ``client_secret``; ``{tenant}`` is
  the tenant id or one of its domains;
* ``GET /{tenant}/discovery/v2.0/keys``: the signing keys (JWKS, with ``x5t`` and ``issuer``);
* a v2.0 ID token signed RS256 with ``aud``, ``iss`` = ``{base}/{tid}/v2.0``, ``iat``, ``nbf``,
  ``exp``, ``ver``, ``tid``, ``oid``, ``sub`` (pairwise: differs per app), ``name``,
  ``preferred_username`` and, with the ``email``/``profile`` scopes, ``email``,
  ``given_name``, ``family_name`` (optional claims the app registration adds).

Errors have Entra's body: ``error``, ``error_description`` ("AADSTSnnnnn: ...\\r\\nTrace ID:
...\\r\\nCorrelation ID: ...\\r\\nTimestamp: ..."), ``error_codes``, ``timestamp``,
``trace_id``, ``correlation_id``, ``error_uri`` (and ``suberror`` where Entra sends one):

=========================================  ====  ===================  ===========
case                                       HTTP  error                AADSTS code
=========================================  ====  ===================  ===========
wrong password                             400   invalid_grant        50126
no such user in the tenant                 400   invalid_grant        50034
smart lockout (``lockout_threshold``)      400   invalid_grant        50053
disabled account                           400   invalid_grant        50057
password expired                           400   invalid_grant        50055
MFA required (Conditional Access)          400   invalid_grant        50076
app not found                              400   unauthorized_client  700016
tenant not found                           400   invalid_request      90002
confidential app, no secret sent           401   invalid_client       7000218
wrong client secret                        401   invalid_client       7000215
no admin consent for the scopes            400   invalid_grant        65001
=========================================  ====  ===================  ===========

For the failures no real Entra produces on demand, ``faults[path] = Fault(...)`` makes a path
answer 5xx, HTML or hang; :meth:`EntraFake.stopped` is an outage; :meth:`EntraFake.rotate_keys`
signs with a new key, as Entra does every few weeks.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, jsonify, request
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.peers.loopback import LoopbackServer

TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
TENANT_DOMAIN = "contoso.onmicrosoft.com"
HANG_LIMIT = 30.0
MESSAGES = {
    50126: "Error validating credentials due to invalid username or password.",
    50034: "The user account {EUII Hidden} does not exist in the {tenant} directory. To sign "
           "into this application, the account must be added to the directory.",
    50053: "The account is locked, you've tried to sign in too many times with an incorrect user "
           "ID or password.",
    50057: "The user account is disabled.",
    50055: "The password is expired.",
    50076: "Due to a configuration change made by your administrator, or because you moved to a "
           "new location, you must use multi-factor authentication to access '{resource}'.",
    700016: "Application with identifier '{client}' was not found in the directory '{tenant}'. "
            "This can happen if the application has not been installed by the administrator of "
            "the tenant or consented to by any user in the tenant.",
    90002: "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
           "signing into the correct cloud.",
    7000218: "The request body must contain the following parameter: 'client_assertion' or "
             "'client_secret'.",
    7000215: "Invalid client secret provided. Ensure the secret being sent in the request is the "
             "client secret value, not the client secret ID, for a secret added to app '{client}'.",
    65001: "The user or administrator has not consented to use the application with ID "
           "'{client}'. Send an interactive authorization request for this user and resource.",
    900144: "The request body must contain the following parameter: '{parameter}'.",
    70003: "The app requested an unsupported grant type '{grant}'.",
}


@functools.cache
def _generated_key(generation: int) -> RSAKey:
    kid = f"entra-fake-{generation}"
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig"})


def _thumbprint(key: RSAKey) -> str:
    digest = hashlib.sha1(key.as_pem(private=False), usedforsecurity=False).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class EntraUser:
    upn: str
    password: str
    given_name: str
    family_name: str
    mail: str | None = None  # the mail attribute, released as the optional ``email`` claim
    oid: str = ""
    enabled: bool = True
    password_expired: bool = False
    mfa_required: bool = False  # Conditional Access / per-user MFA applies to ROPC sign-ins

    def __post_init__(self) -> None:
        self.oid = self.oid or str(uuid.uuid5(uuid.NAMESPACE_URL, self.upn))


@dataclass
class EntraApp:
    client_id: str
    client_secret: str | None  # None: public client flows allowed, no secret
    consented: bool = True


@dataclass(frozen=True)
class Fault:
    """A scripted misbehaviour of one path."""

    status: int = 500
    body: str = '{"error":"server_error"}'
    content_type: str = "application/json"
    hang: bool = False


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]
    form: dict[str, str]



class EntraFake(LoopbackServer):
    """One fake tenant; use as a context manager, or :meth:`start` and :meth:`close`."""
    thread_name = "entra-fake"

    def __init__(self, lockout_threshold: int = 10) -> None:
        self.tenant_id = TENANT_ID
        self.domains = {TENANT_DOMAIN}
        self.lockout_threshold = lockout_threshold
        self.users: dict[str, EntraUser] = {}
        self.apps: dict[str, EntraApp] = {}
        self.faults: dict[str, Fault] = {}
        self.seen: list[Seen] = []
        self.wrong_passwords: Counter[str] = Counter()
        self.token_lifetime = 3600
        self.key_generation = 1
        self.claims_override: dict[str, Any] = {}  # merged into every ID token (tests only)
        self._lock = threading.Lock()
        self._init_loopback()
        self.app = self._build_app()
        self._seed()

    def _seed(self) -> None:
        self.confidential = self.add_app(EntraApp("4a1aa1d5-c567-49d0-ad0b-cd957a47f842",
                                                  "ferry~secret~0123456789abcdef"))
        self.public = self.add_app(EntraApp("0b7c3bbd-0d2a-4a5b-9d84-2a1a3b5e6f70", None))
        for user in (
            EntraUser("alice@contoso.com", "wonderland-1865", "Alice", "Liddell",
                      mail="alice@contoso.com"),
            EntraUser("bob@contoso.com", "builder-1998", "Bob", "Builder", mail="bob@contoso.com"),
            EntraUser("dave@contoso.com", "disabled-2001", "Dave", "Disabled",
                      mail="dave@contoso.com", enabled=False),
            EntraUser("erin@contoso.com", "expired-2019", "Erin", "Expired",
                      mail="erin@contoso.com", password_expired=True),
            EntraUser("mallory@contoso.com", "second-factor-7", "Mallory", "Mfa",
                      mail="mallory@contoso.com", mfa_required=True),
            EntraUser("nomail@contoso.com", "no-mailbox-3", "Nora", "Nomail"),
        ):
            self.add_user(user)

    def add_user(self, user: EntraUser) -> EntraUser:
        self.users[user.upn.lower()] = user
        return user

    def add_app(self, app: EntraApp) -> EntraApp:
        self.apps[app.client_id] = app
        return app

    @property
    def authority(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def token_path(self, tenant: str | None = None) -> str:
        return f"/{tenant or self.tenant_id}/oauth2/v2.0/token"

    def keys_path(self, tenant: str | None = None) -> str:
        return f"/{tenant or self.tenant_id}/discovery/v2.0/keys"

    def calls(self, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path == path]

    def pairwise_sub(self, user: EntraUser, client_id: str) -> str:
        digest = hashlib.sha256(f"{user.oid}:{client_id}".encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()[:43]

    def rotate_keys(self) -> None:
        self.key_generation += 1

    @property
    def signing_key(self) -> RSAKey:
        return _generated_key(self.key_generation)

    # -- the API ----------------------------------------------------------------------------
    def _build_app(self) -> Flask:
        app = Flask("entra_fake")

        @app.before_request
        def record_and_fault():
            with self._lock:
                self.seen.append(Seen(request.path, dict(request.headers), dict(request.form)))
            fault = self.faults.get(request.path)
            if fault is None:
                return None
            if fault.hang:
                self._released.wait(HANG_LIMIT)
            return Response(fault.body, fault.status, content_type=fault.content_type)

        app.post("/<tenant>/oauth2/v2.0/token")(self._token)
        app.get("/<tenant>/discovery/v2.0/keys")(self._keys)
        return app

    def _known(self, tenant: str) -> bool:
        return tenant.lower() in (self.tenant_id, *self.domains)

    def _keys(self, tenant: str):
        if not self._known(tenant):
            return aadsts(400, "invalid_tenant", 90002, tenant=tenant)
        key = self.signing_key.as_dict(private=False)
        key.update(x5t=_thumbprint(self.signing_key), issuer=f"{self.authority}/{self.tenant_id}/v2.0")
        return jsonify({"keys": [key]})

    def _token(self, tenant: str):
        form = dict(request.form)
        if not self._known(tenant):
            return aadsts(400, "invalid_request", 90002, tenant=tenant)
        grant = form.get("grant_type", "")
        if grant != "password":
            return aadsts(400, "unsupported_grant_type", 70003, grant=grant)
        for name in ("client_id", "scope", "username", "password"):
            if not form.get(name):
                return aadsts(400, "invalid_request", 900144, parameter=name)
        app = self.apps.get(form["client_id"])
        if app is None:
            return aadsts(400, "unauthorized_client", 700016, client=form["client_id"],
                          tenant=TENANT_DOMAIN)
        if app.client_secret is not None:
            secret = form.get("client_secret")
            basic = request.authorization
            if basic is not None and basic.type == "basic" and basic.username == app.client_id:
                secret = basic.password
            if not secret:
                return aadsts(401, "invalid_client", 7000218)
            if not hmac.compare_digest(secret, app.client_secret):
                return aadsts(401, "invalid_client", 7000215, client=app.client_id)
        upn = form["username"].strip().lower()  # UPNs are case-insensitive
        user = self.users.get(upn)
        if user is None:
            return aadsts(400, "invalid_grant", 50034, tenant=TENANT_DOMAIN)
        with self._lock:
            if self.wrong_passwords[upn] >= self.lockout_threshold:
                return aadsts(400, "invalid_grant", 50053)
            if not hmac.compare_digest(form["password"], user.password):
                self.wrong_passwords[upn] += 1
                return aadsts(400, "invalid_grant", 50126)
            self.wrong_passwords.pop(upn, None)
        if not user.enabled:
            return aadsts(400, "invalid_grant", 50057)
        if user.password_expired:
            return aadsts(400, "invalid_grant", 50055, suberror="user_password_expired")
        scopes = set(form["scope"].split())
        if not app.consented:
            return aadsts(400, "invalid_grant", 65001, client=app.client_id, suberror="consent_required")
        if user.mfa_required:
            return aadsts(400, "invalid_grant", 50076, resource="00000003-0000-0000-c000-000000000000",
                          suberror="basic_action",
                          claims='{"access_token":{"capolids":{"essential":true,"values":["f0"]}}}')
        return jsonify(self._tokens(app, user, scopes))

    def _tokens(self, app: EntraApp, user: EntraUser, scopes: set[str]) -> dict[str, Any]:
        granted = sorted(scopes & {"openid", "profile", "email", "offline_access"} | {"User.Read"})
        body: dict[str, Any] = {
            "token_type": "Bearer", "scope": " ".join(s for s in granted if s != "openid"),
            "expires_in": self.token_lifetime, "ext_expires_in": self.token_lifetime,
            "access_token": "eyJ0eXAiOiJKV1Qi." + secrets.token_urlsafe(32),
        }
        if "offline_access" in scopes:
            body["refresh_token"] = "0.AAAA" + secrets.token_urlsafe(32)
        if "openid" in scopes:
            body["id_token"] = self.id_token(app, user, scopes)
        return body

    def id_token(self, app: EntraApp, user: EntraUser, scopes: set[str]) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": app.client_id, "iss": f"{self.authority}/{self.tenant_id}/v2.0",
            "iat": now, "nbf": now, "exp": now + self.token_lifetime, "ver": "2.0",
            "tid": self.tenant_id, "oid": user.oid, "sub": self.pairwise_sub(user, app.client_id),
            "aio": secrets.token_urlsafe(16), "uti": secrets.token_urlsafe(16),
            "rh": "0.AAAA" + secrets.token_urlsafe(8),
        }
        if "profile" in scopes:
            claims.update(name=f"{user.given_name} {user.family_name}", preferred_username=user.upn,
                          given_name=user.given_name, family_name=user.family_name)
        if "email" in scopes and user.mail:
            claims["email"] = user.mail
        claims.update(self.claims_override)
        key = self.signing_key
        return jwt.encode({"typ": "JWT", "alg": "RS256", "kid": key.kid}, claims, key)


def aadsts(status: int, error: str, code: int, **details: str) -> Response:
    """An Entra error answer for AADSTS ``code`` (see :func:`aadsts_body`)."""
    answer = jsonify(aadsts_body(error, code, **details))
    answer.status_code = status
    return answer


def aadsts_body(error: str, code: int, suberror: str | None = None, claims: str | None = None,
                **values: str) -> dict[str, Any]:
    """Entra's error body for AADSTS ``code``; ``values`` fill the message's placeholders."""
    now = datetime.now(UTC)
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    message = MESSAGES[code]
    for name, value in values.items():
        message = message.replace("{" + name + "}", value)
    stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
    body: dict[str, Any] = {
        "error": error,
        "error_description": f"AADSTS{code}: {message}\r\nTrace ID: {trace_id}\r\n"
                             f"Correlation ID: {correlation_id}\r\nTimestamp: {stamp}",
        "error_codes": [code], "timestamp": stamp, "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }
    if suberror:
        body["suberror"] = suberror
    if claims:
        body["claims"] = claims
    return body
