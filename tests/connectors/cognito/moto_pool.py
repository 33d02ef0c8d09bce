"""The users of the ``cognito`` connector's tests in moto's pool (one per state Cognito knows), the
pages Ferry shows them, the connector settings for the pool, AWS's documented SECRET_HASH computed
apart from the connector's own, and what a migration leaves in Ferry."""

from __future__ import annotations

import base64
import hashlib
import hmac

from models import LegacyLink, PasswordCredential, User, db
from tests.peers.cognito import MotoCognito, Pool

ALICE, BOB = "alice@example.com", "bob@example.com"
DAVE = "dave@example.com"  # disabled
FRED = "fred@example.com"  # still on the temporary password of AdminCreateUser
UMA = "uma@example.com"  # signed up, never confirmed
TINA = "tina@example.com"  # authenticator app (TOTP) MFA
SAM = "sam@example.com"  # SMS MFA
PASSWORDS = {ALICE: "Alice-Pass-1!", BOB: "Bob-Pass-1!", DAVE: "Dave-Pass-1!",
             FRED: "Fred-Temp-1!", UMA: "Uma-Pass-1!", TINA: "Tina-Pass-1!", SAM: "Sam-Pass-1!"}

CODE_PAGE = "Verification code"
WRONG_CODE = "That code is not right"
DISABLED = "Your account is disabled"
NEW_PASSWORD = "You need to choose a new password"


def cognito_connector(cognito: MotoCognito, pool: Pool, **settings) -> dict:
    table = {
        "type": "cognito", "user_pool_id": pool.id, "client_id": pool.client_id,
        "client_secret": pool.client_secret, "endpoint_url": cognito.url,
        "connect_timeout": 0.5, "read_timeout": 0.5, **settings,
    }
    return {key: value for key, value in table.items() if value is not None}


def secret_hash(secret: str, client_id: str, username: str) -> str:
    """AWS's documented SECRET_HASH, computed apart from the connector's own."""
    digest = hmac.new(secret.encode(), (username + client_id).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def migrated(app, email: str) -> tuple[User, LegacyLink, PasswordCredential | None]:
    with app.app_context(), db.connection_context():
        user = User.get(User.email == email)
        return user, LegacyLink.get(LegacyLink.user == user), PasswordCredential.get_or_none(
            PasswordCredential.user == user)
