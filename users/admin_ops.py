"""What an operator does to one user from the admin portal: find them, look at everything Ferry
holds about them, revoke a way in, a session or a token, disable, delete.

Revoking goes through the same functions the user's own actions do, so apps hear of it:
:func:`users.sessions.end` (back-channel logout, the session's tokens revoked),
:func:`users.sessions.secure` (every session and token) and
:func:`provider.refresh.revoke_family`. Unlike the user's own account page, an operator may take
away the last way in (the page warns first). Deleting keeps a tombstone of each legacy identity
(:class:`models.LegacyTombstone`) unless the operator allows migrating again, so the next
sign-in through the legacy IdP does not quietly create the user anew
(:func:`users.provisioning.provision` answers ``closed``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import connectors
from connectors import RedirectConnector
from models import (
    AuditEvent,
    LegacyLink,
    LegacyTombstone,
    PasskeyCredential,
    PasswordCredential,
    PinCredential,
    RefreshToken,
    UniqueAttribute,
    User,
    UserSession,
    db,
    utcnow,
)
from users import credentials, sessions
from users.identifiers import normalise
from users.schema import STANDARD
from users.schema import live as live_schema

PAGE_SIZE = 50
TRAIL_LENGTH = 50
_PHONE = re.compile(r"^\+?[0-9 ()./-]{4,}$")
#: How long before its ``user.migrated`` the legacy IdP's yes may have come (an MFA page, a
#: code typed late): a proof older than this is not the one that migrated the user.
_PROOF_WINDOW = timedelta(hours=1)


def search(query: str, page: int = 1) -> tuple[list[User], bool]:
    """Users matching ``query`` by any identifier (e-mail, username, phone, Ferry id, legacy
    subject, the custom identifiers of the user schema; e-mail and username also by their
    beginning), newest first, and whether there is
    a next page. An empty query lists everyone."""
    query = (query or "").strip()
    select = User.select().order_by(User.created_at.desc(), User.id)
    if query:
        folded = normalise("email", query)
        linked = LegacyLink.select(LegacyLink.user).where(LegacyLink.subject == query)
        custom = [name for name in live_schema().identifiers() if name not in STANDARD]
        keyed = UniqueAttribute.select(UniqueAttribute.user).where(
            UniqueAttribute.name.in_(custom) & (UniqueAttribute.value == query))
        condition = ((User.id == query) | User.email.startswith(folded)
                     | User.username.startswith(folded) | (User.phone == query)
                     | User.id.in_(linked) | User.id.in_(keyed))
        if _PHONE.match(query):  # "+49 151 2345-678" finds "+491512345678"
            condition |= User.phone == re.sub(r"[ ()./-]", "", query)
        select = select.where(condition)
    rows = list(select.offset((max(page, 1) - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1))
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def tombstones(query: str) -> list[LegacyTombstone]:
    """The tombstones whose legacy subject is ``query`` exactly (a deleted user looked for)."""
    query = (query or "").strip()
    if not query:
        return []
    return list(LegacyTombstone.select().where(LegacyTombstone.subject == query)
                .order_by(LegacyTombstone.deleted_at.desc()))


def forget_tombstone(tombstone_id: int) -> LegacyTombstone | None:
    """Let that legacy identity be migrated again; the tombstone forgotten, or None."""
    tombstone = LegacyTombstone.get_or_none(LegacyTombstone.id == tombstone_id)
    if tombstone is not None:
        LegacyTombstone.delete().where(LegacyTombstone.id == tombstone.id).execute()
    return tombstone


@dataclass
class Migration:
    """How one legacy identity became this user: when, through which app, proved how."""

    link: LegacyLink
    method: str | None  # password, password+mfa, code, federation; None: not in the trail
    client_id: str | None


@dataclass
class Dossier:
    """Everything the portal shows about one user."""

    user: User
    migrations: list[Migration]
    password: PasswordCredential | None
    passkeys: list
    pins: list
    ways_in: int  # as the account page counts them (passkeys, password, PINs on, federation)
    sessions: list
    refresh_families: list[tuple[str, str, datetime]]  # (family, client_id, first issued)
    events: list
    last_signin: AuditEvent | None

    @property
    def links(self) -> list[LegacyLink]:
        """The user's legacy identities."""
        return [migration.link for migration in self.migrations]


def dossier(user_id: str) -> Dossier | None:
    """The user's dossier, or None."""
    user = User.get_or_none(User.id == user_id)
    if user is None:
        return None
    now = utcnow()
    live_sessions = list(UserSession.select().where(
        (UserSession.user == user) & UserSession.ended_at.is_null() & (UserSession.expires_at > now))
        .order_by(UserSession.created_at.desc()))
    families: dict[str, tuple[str, str, datetime]] = {}
    for row in (RefreshToken.select().where((RefreshToken.user == user) & RefreshToken.revoked_at.is_null()
                                            & RefreshToken.used_at.is_null()
                                            & (RefreshToken.absolute_expires_at > now))
                .order_by(RefreshToken.created_at)):
        families.setdefault(row.family, (row.family, row.client_id, row.created_at))
    events = list(AuditEvent.select().where(AuditEvent.user_id == user.id)
                  .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(TRAIL_LENGTH))
    links = list(LegacyLink.select().where(LegacyLink.user == user).order_by(LegacyLink.migrated_at))
    return Dossier(
        user=user,
        migrations=[migration(user, link) for link in links],
        password=PasswordCredential.get_or_none(PasswordCredential.user == user),
        passkeys=credentials.passkeys(user),
        pins=credentials.pins(user),
        ways_in=credentials.sign_in_methods(user),
        sessions=live_sessions,
        refresh_families=list(families.values()),
        events=events,
        last_signin=next((e for e in events if e.event.startswith("signin.")
                          and e.event not in ("signin.failed", "signin.throttled")), None),
    )


def migration(user: User, link: LegacyLink) -> Migration:
    """The migration record of ``link``, the method read from the audit trail: the legacy IdP's
    ``legacy.verified`` for this subject just before the ``user.migrated`` (or ``user.linked``)
    event, else the amr of the session that sign-in opened."""
    made = (AuditEvent.select().where(
        (AuditEvent.user_id == user.id) & (AuditEvent.connector == link.connector)
        & AuditEvent.event.in_(("user.migrated", "user.linked", "user.relinked")))
        .order_by(AuditEvent.at, AuditEvent.id).first())
    at = made.at if made is not None else link.migrated_at
    method = (made.details or {}).get("method") if made is not None else None
    if method is None:
        for proof in (AuditEvent.select().where(
                (AuditEvent.event == "legacy.verified") & (AuditEvent.connector == link.connector)
                & AuditEvent.at.between(at - _PROOF_WINDOW, at + timedelta(seconds=5)))
                .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(200)):
            if (proof.details or {}).get("subject") == link.subject:
                method = _method_of_proof(link.connector, proof.details)
                break
    if method is None:
        first = (UserSession.select().where(
            (UserSession.user == user)
            & UserSession.created_at.between(at - timedelta(seconds=5), at + timedelta(minutes=5)))
            .order_by(UserSession.created_at).first())
        method = _method_of_amr(first.amr) if first is not None else None
    return Migration(link=link, method=method, client_id=made.client_id if made else None)


def _method_of_proof(connector_name: str, details: dict) -> str:
    if details.get("method") == "otp":
        return "code"
    if details.get("mfa"):
        return "password+mfa"
    connector = connectors.instances().get(connector_name)
    return "federation" if isinstance(connector, RedirectConnector) else "password"


def _method_of_amr(amr: list) -> str | None:
    amr = list(amr or [])
    for marker, method in (("fed", "federation"), ("mfa", "password+mfa"), ("otp", "code"),
                           ("pwd", "password")):
        if marker in amr:
            return method
    return None


def revoke_password(user: User) -> bool:
    """Remove the user's password with Ferry (an operator may remove the last way in)."""
    return bool(PasswordCredential.delete().where(PasswordCredential.user == user).execute())


def revoke_passkey(user: User, passkey_id: int) -> bool:
    """Remove one of the user's passkeys (an operator may remove the last way in)."""
    return bool(PasskeyCredential.delete().where((PasskeyCredential.id == passkey_id)
                                                 & (PasskeyCredential.user == user)).execute())


def revoke_pin(user: User, pin_id: int) -> bool:
    """Remove one of the user's device PINs."""
    return bool(PinCredential.delete().where((PinCredential.id == pin_id)
                                             & (PinCredential.user == user)).execute())


def end_session(user: User, sid: str) -> bool:
    """End one of the user's sessions (its apps are told, its tokens revoked)."""
    record = UserSession.get_or_none((UserSession.sid == sid) & (UserSession.user == user))
    return record is not None and sessions.end(record)


def revoke_refresh_family(user: User, family: str) -> int:
    """Revoke one refresh-token family of the user and the access tokens it bought; how many
    tokens (0: no such family of this user)."""
    from provider import refresh  # the provider imports users: import it when used

    if not RefreshToken.select().where((RefreshToken.family == family)
                                       & (RefreshToken.user == user)).exists():
        return 0
    return refresh.revoke_family(family)


def set_status(user: User, status: str) -> int:
    """``disabled``: every session ends and every token dies; ``active``: back. Sessions ended."""
    if status not in ("active", "disabled"):
        raise ValueError(f"status: {status!r} is neither active nor disabled")
    User.update(status=status, updated_at=utcnow()).where(User.id == user.id).execute()
    user.status = status
    return sessions.secure(user) if status == "disabled" else 0


def delete(user: User, actor: str, allow_migrating_again: bool = False) -> list[tuple[str, str]]:
    """Delete the user and everything of theirs (sessions ended first, so apps hear of it);
    the ``(connector, subject)`` tombstones kept (none when migrating again is allowed). The
    audit trail stays: it is the record of what happened."""
    sessions.secure(user)
    links = [(link.connector, link.subject)
             for link in LegacyLink.select().where(LegacyLink.user == user)]
    with db.atomic():
        if not allow_migrating_again:
            for connector, subject in links:
                (LegacyTombstone.insert(connector=connector, subject=subject,
                                        deleted_at=utcnow(), deleted_by=actor)
                 .on_conflict_ignore().execute())
        User.delete().where(User.id == user.id).execute()
    return [] if allow_migrating_again else links
