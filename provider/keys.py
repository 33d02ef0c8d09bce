"""Signing keys for ID tokens: generated on first start, stored, rotated with overlap.

The newest active key signs. Every key that is not retired is published in the JWKS, so a
rotated-out key keeps verifying tokens it signed until an operator retires it.
"""

from __future__ import annotations

import time

import click
from flask import Flask
from joserfc.jwk import KeySet, RSAKey
from peewee import PostgresqlDatabase

from models import SigningKey, db, utcnow

ALGORITHM = "RS256"
_KEY_LOCK_ID = 0x4B657973  # "Keys"
_CACHE_SECONDS = 60
_cache: dict[str, tuple[float, object]] = {}


def clear_cache() -> None:
    """Forget cached keys (a new app, or a rotation on this server)."""
    _cache.clear()


def generate() -> SigningKey:
    key = RSAKey.generate_key(2048, private=True, auto_kid=True)
    public = key.as_dict(private=False)
    public.update({"use": "sig", "alg": ALGORITHM})
    clear_cache()
    return SigningKey.create(
        kid=key.kid, alg=ALGORITHM, private_pem=key.as_pem(private=True).decode(),
        public_jwk=public,
    )


def ensure_signing_key() -> None:
    """Create the first key once, even when several workers start together."""
    with db.atomic():  # SQLite: BEGIN IMMEDIATE serialises; PostgreSQL: an advisory lock
        if isinstance(db.obj, PostgresqlDatabase):
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_KEY_LOCK_ID,))
        if not SigningKey.select().where(SigningKey.active).exists():
            generate()


def _cached(name: str, load):
    hit = _cache.get(name)
    now = time.monotonic()
    if hit and now - hit[0] < _CACHE_SECONDS:
        return hit[1]
    value = load()
    _cache[name] = (now, value)
    return value


def signing_key() -> tuple[str, RSAKey]:
    """(kid, private key) of the newest active key."""
    def load():
        row = (SigningKey.select().where(SigningKey.active)
               .order_by(SigningKey.created_at.desc()).first())
        return row.kid, RSAKey.import_key(row.private_pem)
    return _cached("signing", load)


def public_jwks() -> dict:
    def load():
        rows = SigningKey.select().where(SigningKey.retired_at.is_null()).order_by(
            SigningKey.created_at.desc())
        return {"keys": [row.public_jwk for row in rows]}
    return _cached("jwks", load)


def public_key_set() -> KeySet:
    return KeySet.import_key_set(public_jwks())


def init_app(app: Flask) -> None:
    group = click.Group("keys", help="ID token signing keys.")

    @group.command("rotate")
    def rotate() -> None:
        """Make a new signing key; older keys stay published until retired."""
        with db.connection_context(), db.atomic():
            SigningKey.update(active=False).where(SigningKey.active).execute()
            key = generate()
        click.echo(f"new signing key {key.kid}")

    @group.command("retire")
    @click.argument("kid")
    def retire(kid: str) -> None:
        """Stop publishing an inactive key (tokens it signed no longer verify)."""
        with db.connection_context():
            count = SigningKey.update(retired_at=utcnow()).where(
                (SigningKey.kid == kid) & ~SigningKey.active).execute()
        click.echo(f"retired {kid}" if count else f"no inactive key {kid}")

    app.cli.add_command(group)
