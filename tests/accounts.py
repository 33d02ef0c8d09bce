"""Creating local users directly, for tests that start after a migration."""

from __future__ import annotations

import authenticators
from models import PasswordCredential, User, db


def create_local_user(app, email: str, password: str, **fields) -> str:
    with app.app_context(), db.connection_context():
        user = User.create(email=email, given_name=fields.pop("given_name", "Test"), **fields)
        PasswordCredential.create(
            user=user, hash=authenticators.get("password").hash(password), source="local")
        return user.id


def count_users(app) -> int:
    with app.app_context(), db.connection_context():
        return User.select().count()


def sign_in_locally(app, client, email: str, password: str) -> str:
    """Create a local user and sign ``client`` in to Ferry itself (the account page); its id."""
    from tests.conftest import SignIn

    user_id = create_local_user(app, email, password)
    walker = SignIn(client)
    walker.open()
    assert walker.post(identifier=email, password=password).headers["Location"] == "/"
    return user_id
