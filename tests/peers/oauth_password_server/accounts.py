"""The OAuth client and the user accounts the peer server is seeded with.

Plain data, no Django import: :mod:`.serve` writes these rows into the
database on first start, and copies them into the JSON state file so that the
test process never has to import this module (it may, though).

Secrets and passwords use only ``[A-Za-z0-9-]`` on purpose: django-oauth-toolkit
``unquote_plus``-decodes the ``client_id:client_secret`` pair of HTTP Basic
client authentication (RFC 6749 section 2.3.1 form-encoding), so a ``+`` or ``%``
in a secret would have to be form-encoded by the client first.
"""

CLIENT_ID = "ferry-ropc-client"
# Kept in plaintext here on purpose: django-oauth-toolkit hashes the secret when the
# Application row is saved, so the database alone cannot tell the tests what to send.
CLIENT_SECRET = "ferry-ropc-secret-4d1c6b0e9a7f"
CLIENT_NAME = "Ferry ROPC connector (integration tests)"

# A second client, allowed the password grant only: the client-credentials grant (and so the
# user lookup) answers it `unauthorized_client`, as an IdP does for a client nobody gave the
# right to read users.
PASSWORD_ONLY_CLIENT_ID = "ferry-ropc-password-only"
PASSWORD_ONLY_CLIENT_SECRET = "ferry-ropc-password-only-secret-2b7e"
PASSWORD_ONLY_CLIENT_NAME = "Ferry ROPC connector without user lookup (integration tests)"

# Clients that may also use the client-credentials grant (a Keycloak client with "service
# accounts" on, an Auth0 machine-to-machine grant).
CLIENT_CREDENTIALS_CLIENTS = frozenset({CLIENT_ID})

# The scope the user lookup (GET /api/users?email=...) demands. Only the client-credentials
# grant can get it; a token of a user (password grant) never can.
LOOKUP_SCOPE = "users.read"

# Scopes of user tokens (password grant). The userinfo endpoint needs an access token
# carrying "openid"; "email" unlocks email/email_verified and "profile" the name claims.
USER_SCOPES = {
    "openid": "OpenID Connect",
    "email": "E-mail address",
    "profile": "Name",
}

# Every scope the server knows.
SCOPES = {**USER_SCOPES, LOOKUP_SCOPE: "Read user accounts (client-credentials grant only)"}

# username == e-mail address, exactly as given (case preserved).
USERS = [
    {
        "email": "alice@example.com",
        "password": "wonderland-1865",
        "given_name": "Alice",
        "family_name": "Liddell",
        "is_active": True,
    },
    {
        "email": "bob@example.com",
        "password": "builder-1999",
        "given_name": "Bob",
        "family_name": "Builder",
        "is_active": True,
    },
    {
        "email": "dave@example.com",
        "password": "disabled-account-1",
        "given_name": "Dave",
        "family_name": "Dormant",
        "is_active": False,
    },
    {
        "email": "Mixed.Case@Example.com",
        "password": "case-matters-not-1",
        "given_name": "Mixed",
        "family_name": "Case",
        "is_active": True,
    },
]
