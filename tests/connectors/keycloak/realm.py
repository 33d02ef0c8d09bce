"""The realm of the ``keycloak`` connector's tests: its name and paths, the connector settings for
the Django OAuth Toolkit peer under Keycloak's paths, and :class:`ScriptedKeycloak`, a scripted
server answering as Keycloak is documented to (signed with the realm's key), with its error bodies
(:func:`keycloak_error`)."""

from __future__ import annotations

import secrets
import time

from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.connectors.scripted_idp import (
    Recorded,
    Reply,
    ScriptedIdp,
)
from tests.peers.keycloak_paths import KeycloakPaths

ALICE, BOB = "alice@example.com", "bob@example.com"
REALM = "acme"
OIDC = f"/realms/{REALM}/protocol/openid-connect"
MFA_HINT = "Enter the code from your authenticator app."
CODE_NOT_RIGHT = "That code is not right"


# -- the real peer: Django OAuth Toolkit under Keycloak's paths ----------------------------------
def keycloak_table(proxy: KeycloakPaths, dot, **settings) -> dict:
    table = {"type": "keycloak", "base_url": proxy.base_url, "realm": REALM,
             "client_id": dot.client_id, "client_secret": dot.client_secret,
             # DOT signs no ID token for the password grant: the profile comes from userinfo.
             "connect_timeout": 2, "read_timeout": 5, **settings}
    return {key: value for key, value in table.items() if value is not None}


# -- Keycloak as documented, on a scripted server ------------------------------------------------
SIGNING_KEY = RSAKey.generate_key(2048, parameters={"kid": "realm-key-1"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "realm-key-1"})


class ScriptedKeycloak:
    """One realm's direct grant, userinfo and certs as Keycloak answers them.

    Two clients: ``ferry`` (flow: username, password) and ``ferry-otp`` (flow: username, OTP
    required), as the connector's docstring tells operators to set up. Users: ``olga`` with an
    OTP device and ``alice`` without.
    """

    CLIENTS = {"ferry": ("ferry-secret", "password"), "ferry-otp": ("ferry-otp-secret", "otp")}

    def __init__(self, idp: ScriptedIdp, issuer: str | None = None, key: RSAKey = SIGNING_KEY) -> None:
        self.idp = idp
        self.issuer = issuer or idp.url(f"/realms/{REALM}")
        self.key = key
        self.users = {
            "olga@example.com": {"password": "olga-pass-1", "otp": "314159", "enabled": True,
                                 "sub": "6f1c9c2e-0b9d-4c61-9b7a-1d2e3f405162",
                                 "given_name": "Olga", "family_name": "Petrova"},
            ALICE: {"password": "alice-pass-1", "otp": None, "enabled": True,
                    "sub": "0d6a7c8e-1111-4c61-9b7a-1d2e3f405162",
                    "given_name": "Alice", "family_name": "Liddell"},
        }
        self.tokens: dict[str, dict] = {}
        idp.routes[f"{OIDC}/token"] = self.token
        idp.routes[f"{OIDC}/userinfo"] = self.userinfo
        idp.routes[f"{OIDC}/certs"] = Reply(200, {"keys": [SIGNING_KEY.as_dict(private=False)]})

    def token(self, request: Recorded) -> Reply:
        form = request.form()
        client = self.CLIENTS.get(form.get("client_id", ""))
        if client is None or form.get("client_secret") != client[0]:
            return keycloak_error(401, "invalid_client", "Invalid client or Invalid client credentials")
        user = self.users.get(form.get("username", ""))
        if user is None:
            return keycloak_error(400, "invalid_grant", "Invalid user credentials")
        if not user["enabled"]:
            return keycloak_error(400, "invalid_grant", "Account disabled")
        if client[1] == "password" and form.get("password") != user["password"]:
            return keycloak_error(401, "invalid_grant", "Invalid user credentials")
        if client[1] == "otp" and (user["otp"] is None
                                   or (form.get("otp") or form.get("totp")) != user["otp"]):
            return keycloak_error(401, "invalid_grant", "Invalid user credentials")
        access = secrets.token_urlsafe(16)
        self.tokens[access] = user
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": form["client_id"], "azp": form["client_id"],
                  "sub": user["sub"], "typ": "ID", "iat": now, "exp": now + 300,
                  "email": form["username"], "email_verified": True,
                  "given_name": user["given_name"], "family_name": user["family_name"]}
        id_token = jwt.encode({"alg": "RS256", "kid": "realm-key-1", "typ": "JWT"}, claims, self.key)
        return Reply(200, {"access_token": access, "expires_in": 300, "refresh_expires_in": 1800,
                           "refresh_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                           "id_token": id_token, "not-before-policy": 0,
                           "session_state": secrets.token_hex(8), "scope": "openid email profile"})

    def userinfo(self, request: Recorded) -> Reply:
        user = self.tokens.get(request.headers.get("Authorization", "").removeprefix("Bearer "))
        if user is None:
            return Reply(401, "", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        email = next(e for e, u in self.users.items() if u is user)
        return Reply(200, {"sub": user["sub"], "email": email, "email_verified": True,
                           "preferred_username": email, "given_name": user["given_name"],
                           "family_name": user["family_name"],
                           "name": f"{user['given_name']} {user['family_name']}"})

    def table(self, **settings) -> dict:
        table = {"type": "keycloak", "base_url": self.idp.base_url, "realm": REALM,
                 "client_id": "ferry", "client_secret": "ferry-secret",
                 "connect_timeout": 0.5, "read_timeout": 0.5, **settings}
        return {key: value for key, value in table.items() if value is not None}


def keycloak_error(status: int, error: str, description: str) -> Reply:
    return Reply(status, {"error": error, "error_description": description})
