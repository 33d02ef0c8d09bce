"""Admin accounts: created from the shell, signed in with a password and a passkey.

Roles: ``viewer`` sees everything the portal shows; ``admin`` may also change it. A password is
checked against its argon2id hash; an unknown e-mail address costs one decoy check, so timing
tells nobody which admins exist. :func:`attempt_password` is the sign-in page's check, under
the throttle per address and per IP; :func:`disable` and :func:`reset_passkeys` end the
admin's sessions as they act (``ferry admin disable`` / ``reset-passkeys``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import peewee

import authenticators
from models import AdminAccount, AdminPasskey, db, utcnow
from security.throttle import throttle
from users.identifiers import normalise

Role = Literal["viewer", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "admin")


class AdminExists(Exception):
    """An admin with this e-mail address exists already."""


def create(email: str, password: str, role: Role = "admin") -> AdminAccount:
    """A new admin account (the password hashed with the end users' argon2id parameters)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    password_hash = authenticators.get("password").hash(password)
    try:
        return AdminAccount.create(email=normalise("email", email), password_hash=password_hash,
                                   role=role, created_at=utcnow())
    except peewee.IntegrityError:
        raise AdminExists(email) from None


def check_password(email: str, password: str) -> AdminAccount | None:
    """The active admin whose password this is, or None (after the same one hash check)."""
    from authenticators.password import verify_hash

    hasher = authenticators.get("password")
    admin = find(email)
    if admin is None or admin.disabled_at is not None:
        hasher.verify(None, password)  # the decoy: the same time as a real check
        return None
    return admin if verify_hash(hasher.hasher, admin.password_hash, password) else None


def may_change(admin: AdminAccount | None) -> bool:
    """Whether ``admin`` may change things (the ``admin`` role), not only look."""
    return admin is not None and admin.role == "admin"


def find(email: str) -> AdminAccount | None:
    """The admin account of this address (active or not), or None."""
    return AdminAccount.get_or_none(AdminAccount.email == normalise("email", email or ""))


def disable(admin: AdminAccount) -> None:
    """Disable ``admin`` and end its sessions: its next request in the portal is nobody's."""
    from operators.sessions import end_all

    with db.atomic():
        AdminAccount.update(disabled_at=utcnow()).where(AdminAccount.id == admin.id).execute()
        end_all(admin)


def reset_passkeys(admin: AdminAccount) -> int:
    """Forget ``admin``'s passkeys (a lost device) and end its sessions; how many there were.

    Its next sign-in asks for the password, then enrols a new passkey before letting it in.
    """
    from operators.sessions import end_all

    with db.atomic():
        count = AdminPasskey.delete().where(AdminPasskey.admin == admin).execute()
        end_all(admin)
    return count


#: Throttle scopes of the portal's passwords: apart from the end users' budgets.
THROTTLE_BY_ADDRESS = "admin-password"
THROTTLE_BY_IP = "admin-password-ip"


@dataclass(frozen=True)
class PasswordOutcome:
    """What one posted admin password came to: ``admin`` when it was right; else why not
    (``unknown``, ``disabled``, ``wrong`` or ``throttled``, for the audit log only: the page
    says the same for the first three) and, when throttled, the seconds to wait."""

    admin: AdminAccount | None
    reason: str | None = None
    retry_after: int = 0
    account: str | None = None  # the admin address tried, when it is one (for the audit log)


def attempt_password(email: str, password: str, ip: str | None) -> PasswordOutcome:
    """Check an admin's password under the throttle, per address and per client IP.

    Like the end users' passwords (``journeys/steps/_attempt.py``): each attempt is counted in
    both budgets (``failed_signins_per_identifier``, whatever the address, and the same per
    IP, whatever the address) *before* the check, atomically, and given back when the password
    was right; a refused attempt is checked against nothing. Every outcome costs exactly one
    argon2id check (the decoy for an unknown address, a disabled admin or a throttled attempt),
    so the time tells nobody which admins exist.
    """
    limiter = throttle()
    address = normalise("email", email or "") or "-"
    by_address = limiter.admission(THROTTLE_BY_ADDRESS, address)
    by_ip = limiter.admission(THROTTLE_BY_IP, ip or "-") if by_address else None
    if by_address is None or by_ip is None:
        if by_address is not None:
            limiter.give_back(THROTTLE_BY_ADDRESS, address, by_address)  # not checked: no guess
        authenticators.get("password").verify(None, password)  # the same one hash check
        wait = max(limiter.retry_after(THROTTLE_BY_ADDRESS, address),
                   limiter.retry_after(THROTTLE_BY_IP, ip or "-"))
        return PasswordOutcome(None, "throttled", wait)
    admin = check_password(email, password)
    if admin is not None:
        limiter.give_back(THROTTLE_BY_ADDRESS, address, by_address)
        limiter.give_back(THROTTLE_BY_IP, ip or "-", by_ip)
        return PasswordOutcome(admin)
    known = find(email)  # looked up for every failure alike: the time tells nothing
    reason = "unknown" if known is None else "disabled" if known.disabled_at else "wrong"
    return PasswordOutcome(None, reason, account=known.email if known else None)
