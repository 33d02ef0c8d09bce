"""Signing keys for ID tokens: generated on first start, stored, rotated with overlap.

There is one active key per algorithm: RS256 (RSA 2048), which every OpenID library verifies
and apps get unless they ask otherwise (OpenID Connect Core 15.1), and ES256 (ECDSA P-256), for
apps with ``id_token_signed_response_alg = "ES256"``: its signature costs a few hundredths of a
millisecond where RSA's costs about one, and its token is shorter. The newest active key of an
algorithm signs. Every key that is not retired is published in the JWKS, so a rotated-out key
keeps verifying tokens it signed until an operator retires it.
"""

from __future__ import annotations

import time

import click
from flask import Flask
from joserfc.jwk import ECKey, KeySet, RSAKey
from peewee import PostgresqlDatabase

from models import SigningKey, db, utcnow

#: The default algorithm of ID tokens and logout tokens.
ALGORITHM = "RS256"
#: Every algorithm Ferry signs with (discovery's ``id_token_signing_alg_values_supported``).
ALGORITHMS = ("RS256", "ES256")
_KEY_LOCK_ID = 0x4B657973  # "Keys"
_CACHE_SECONDS = 60
_cache: dict[str, tuple[float, object]] = {}


def clear_cache() -> None:
    """Forget cached keys (a new app, or a rotation on this server)."""
    _cache.clear()


def generate(alg: str = ALGORITHM) -> SigningKey:
    """A new active key for ``alg`` (RS256: RSA 2048; ES256: ECDSA P-256), stored."""
    if alg == "RS256":
        key = RSAKey.generate_key(2048, private=True, auto_kid=True)
    elif alg == "ES256":
        key = ECKey.generate_key("P-256", private=True, auto_kid=True)
    else:
        raise ValueError(f"no signing keys for {alg!r} (Ferry signs with {', '.join(ALGORITHMS)})")
    public = key.as_dict(private=False)
    public.update({"use": "sig", "alg": alg})
    clear_cache()
    return SigningKey.create(
        kid=key.kid, alg=alg, private_pem=key.as_pem(private=True).decode(),
        public_jwk=public,
    )


def ensure_signing_key() -> None:
    """Create the first key of each algorithm once, even when several workers start together."""
    with db.atomic():  # SQLite: BEGIN IMMEDIATE serialises; PostgreSQL: an advisory lock
        if isinstance(db.obj, PostgresqlDatabase):
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_KEY_LOCK_ID,))
        for alg in ALGORITHMS:
            if not SigningKey.select().where(SigningKey.active & (SigningKey.alg == alg)).exists():
                generate(alg)


def _cached(name: str, load):
    hit = _cache.get(name)
    now = time.monotonic()
    if hit and now - hit[0] < _CACHE_SECONDS:
        return hit[1]
    value = load()
    _cache[name] = (now, value)
    return value


def signing_key(alg: str = ALGORITHM) -> tuple[str, RSAKey | ECKey]:
    """(kid, private key) of the newest active key of ``alg``."""
    def load():
        row = (SigningKey.select().where(SigningKey.active & (SigningKey.alg == alg))
               .order_by(SigningKey.created_at.desc()).first())
        if row is None:
            raise LookupError(f"no active {alg} signing key (flask --app app keys rotate)")
        kind = ECKey if alg == "ES256" else RSAKey
        return row.kid, kind.import_key(row.private_pem)
    return _cached(f"signing:{alg}", load)


def public_jwks() -> dict:
    """Every key not retired; RS256 keys first (a library that takes the first key gets the
    default algorithm's), newest first within an algorithm."""
    def load():
        rows = SigningKey.select().where(SigningKey.retired_at.is_null()).order_by(
            SigningKey.created_at.desc())
        ordered = sorted(rows, key=lambda row: row.alg != ALGORITHM)  # stable: newest first stays
        return {"keys": [row.public_jwk for row in ordered]}
    return _cached("jwks", load)


def public_key_set() -> KeySet:
    return KeySet.import_key_set(public_jwks())


def init_app(app: Flask) -> None:
    group = click.Group("keys", help="ID token signing keys.")

    @group.command("rotate")
    @click.option("--alg", type=click.Choice(ALGORITHMS), multiple=True,
                  help="Only this algorithm's key (default: every algorithm's).")
    def rotate(alg: tuple[str, ...]) -> None:
        """Make new signing keys; older keys stay published until retired."""
        for name in alg or ALGORITHMS:
            with db.connection_context(), db.atomic():
                SigningKey.update(active=False).where(
                    SigningKey.active & (SigningKey.alg == name)).execute()
                key = generate(name)
            click.echo(f"new signing key {key.kid} ({name})")

    @group.command("retire")
    @click.argument("kid")
    def retire(kid: str) -> None:
        """Stop publishing an inactive key (tokens it signed no longer verify)."""
        with db.connection_context():
            count = SigningKey.update(retired_at=utcnow()).where(
                (SigningKey.kid == kid) & ~SigningKey.active).execute()
        click.echo(f"retired {kid}" if count else f"no inactive key {kid}")

    app.cli.add_command(group)
