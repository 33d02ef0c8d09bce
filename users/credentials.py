"""A user's own sign-in methods: listing, renaming and removing passkeys, removing device PINs,
never the last method.

A method is a local password, a passkey, a PIN that is not turned off, or a link to a redirect
IdP (OIDC, SAML) the user can "continue with". Removing the only one left would lock the user
out, so it is refused.
"""

from __future__ import annotations

import connectors
from connectors import RedirectConnector
from models import LegacyLink, PasskeyCredential, PasswordCredential, PinCredential, User, db, utcnow


class LastSignInMethod(Exception):
    """Removing this would leave the user no way to sign in."""


def passkeys(user: User) -> list[PasskeyCredential]:
    return list(PasskeyCredential.select().where(PasskeyCredential.user == user)
                .order_by(PasskeyCredential.created_at))


def pins(user: User) -> list[PinCredential]:
    return list(PinCredential.select().where(PinCredential.user == user)
                .order_by(PinCredential.created_at))


def sign_in_methods(user: User) -> int:
    redirect_connectors = [name for name, connector in connectors.instances().items()
                           if isinstance(connector, RedirectConnector)]
    count = PasskeyCredential.select().where(PasskeyCredential.user == user).count()
    count += PasswordCredential.select().where(PasswordCredential.user == user).count()
    count += PinCredential.select().where((PinCredential.user == user)
                                          & PinCredential.disabled_at.is_null()).count()
    if redirect_connectors:
        count += LegacyLink.select().where((LegacyLink.user == user)
                                           & LegacyLink.connector.in_(redirect_connectors)).count()
    return count


def _own(user: User, passkey_id: int) -> PasskeyCredential | None:
    return PasskeyCredential.get_or_none((PasskeyCredential.id == passkey_id)
                                         & (PasskeyCredential.user == user))


def rename_passkey(user: User, passkey_id: int, name: str) -> bool:
    """False when the user has no such passkey."""
    return bool(PasskeyCredential.update(name=name.strip())
                .where((PasskeyCredential.id == passkey_id) & (PasskeyCredential.user == user))
                .execute())


def remove_passkey(user: User, passkey_id: int) -> bool:
    """False when the user has no such passkey; LastSignInMethod when it is their only way in."""
    with db.atomic():
        if _own(user, passkey_id) is None:
            return False
        if sign_in_methods(user) <= 1:
            raise LastSignInMethod()
        PasskeyCredential.delete().where(PasskeyCredential.id == passkey_id).execute()
    return True


def remove_pin(user: User, pin_id: int) -> bool:
    """False when the user has no such PIN; LastSignInMethod when it is their only way in.

    A PIN already turned off is no way in, so removing it is always allowed.
    """
    with db.atomic():
        pin = PinCredential.get_or_none((PinCredential.id == pin_id) & (PinCredential.user == user))
        if pin is None:
            return False
        if pin.disabled_at is None and sign_in_methods(user) <= 1:
            raise LastSignInMethod()
        PinCredential.delete().where(PinCredential.id == pin_id).execute()
    return True


def has_password(user: User) -> bool:
    """Whether the user has a password with Ferry (migrated, set or imported)."""
    return PasswordCredential.select().where(PasswordCredential.user == user).exists()


def set_password(user: User, password_hash: str, source: str = "local") -> None:
    """Give ``user`` this password (an argon2id PHC string hashed beforehand, outside any
    transaction), replacing the one they had; one row per user, safe against two tabs."""
    now = utcnow()
    (PasswordCredential
     .insert(user=user, hash=password_hash, source=source, created_at=now, updated_at=now)
     .on_conflict(conflict_target=[PasswordCredential.user],
                  update={PasswordCredential.hash: password_hash,
                          PasswordCredential.source: source,
                          PasswordCredential.updated_at: now})
     .execute())
