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

# Scopes the server knows. The userinfo endpoint needs an access token carrying
# "openid"; "email" unlocks email/email_verified and "profile" the name claims.
SCOPES = {
    "openid": "OpenID Connect",
    "email": "E-mail address",
    "profile": "Name",
}

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
