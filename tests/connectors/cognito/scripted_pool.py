"""A scripted Cognito user pool for the ``cognito`` connector's tests: Cognito's JSON protocol (one
``POST /`` per call, the operation in ``X-Amz-Target``, errors as ``{"__type", "message"}``)
answered per operation by a :class:`ScriptedIdp`, with the replies of a healthy pool."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

from tests.connectors.cognito.moto_pool import ALICE
from tests.connectors.scripted_idp import Recorded, Reply, ScriptedIdp

# -- a scripted pool: what moto cannot be made to do ----------------------------------------
TARGET = "AWSCognitoIdentityProviderService."
AMZ_JSON = "application/x-amz-json-1.1"
POOL_ID = "eu-west-1_Scripted1"
CLIENT_ID, CLIENT_SECRET = "scriptedclient", "scripted-client-secret"
PASSWORD = "correct horse battery staple"
SESSION = "scripted-session-0123456789"


def access_token(issuer_pool: str = POOL_ID) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    claims = {"iss": f"https://cognito-idp.eu-west-1.amazonaws.com/{issuer_pool}", "sub": "u-42",
              "client_id": CLIENT_ID, "token_use": "access"}
    return f"{part({'alg': 'RS256', 'kid': 'k'})}.{part(claims)}.c2ln"


def error(code: str, message: str, status: int = 400) -> Reply:
    return Reply(status, {"__type": code, "message": message}, AMZ_JSON)


TOKENS = Reply(200, {"AuthenticationResult": {"AccessToken": access_token(), "IdToken": "x.y.z",
                                              "ExpiresIn": 3600, "TokenType": "Bearer"},
                     "ChallengeParameters": {}}, AMZ_JSON)
USER = Reply(200, {"Username": "alice", "UserAttributes": [
    {"Name": "sub", "Value": "u-42"}, {"Name": "email", "Value": ALICE},
    {"Name": "email_verified", "Value": "true"}, {"Name": "given_name", "Value": "Alice"}],
    "MFAOptions": [], "UserMFASettingList": []}, AMZ_JSON)


def challenge(name: str, **parameters: str) -> Reply:
    return Reply(200, {"ChallengeName": name, "Session": SESSION,
                       "ChallengeParameters": parameters}, AMZ_JSON)


def by_operation(replies: dict[str, Reply]) -> Callable[[Recorded], Reply]:
    """One route for ``POST /`` answering per operation (``X-Amz-Target``), read at each call."""
    def answer(request: Recorded) -> Reply:
        operation = request.headers.get("X-Amz-Target", "").removeprefix(TARGET)
        return replies.get(operation, error("InvalidParameterException", f"no {operation}"))
    return answer


def scripted_table(idp: ScriptedIdp, **settings) -> dict:
    return {"type": "cognito", "user_pool_id": POOL_ID, "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "endpoint_url": idp.base_url,
            "connect_timeout": 0.5, "read_timeout": 0.5, **settings}


def calls(idp: ScriptedIdp, operation: str) -> list[dict]:
    return [json.loads(r.body) for r in idp.calls("/")
            if r.headers.get("X-Amz-Target") == TARGET + operation]
