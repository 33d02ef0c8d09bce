"""What each connector's mode (its ``migration`` setting, :mod:`connectors.common_settings`)
means for one user.

* ``migrate`` (the default): the user moves to Ferry at the first sign-in, and Ferry alone
  checks from then on.
* ``sync``: the legacy IDP stays the system of record. :func:`sync_source` names it for a user
  linked to it: the local password step hands such users to the legacy step (every sign-in is
  checked there and refreshes the profile), ``create_user`` keeps no local password, and a
  password change or reset is refused with a pointer to the legacy side.
* ``shadow``: migrated users sign in with Ferry alone; :func:`shadow_sources` are asked the
  same password in the background (:mod:`lifecycle.shadow`), and a different answer is counted
  (``shadow.mismatch``), never changing the sign-in.
* ``closed``: the legacy IDP is off and never called. Its password steps answer ``closed``
  (users who never migrated are sent to set a new password), and its lookups read the roster.

Modes are read from the live connectors at each request, so switching one through the store
takes effect at the next page of every sign-in under way and fails none of them.
"""

from __future__ import annotations

from flask import g, has_request_context

import connectors
from connectors.base import Connector
from models import LegacyLink, User

MODES = ("migrate", "sync", "shadow", "closed")


def mode_of(name: str) -> str | None:
    """The mode of connector ``name``, or None when no such connector is configured (now)."""
    connector = connectors.instances().get(name)
    return connector.settings.migration if connector is not None else None


def _linked(user: User | None, mode: str) -> list[Connector]:
    """The connectors in ``mode`` that ``user`` is linked to: no query at all while no
    connector is in that mode (the usual case), one per request otherwise."""
    running = {name: c for name, c in connectors.instances().items() if c.settings.migration == mode}
    if user is None or not running:
        return []
    memo = g.setdefault("ferry_links", {}) if has_request_context() else {}
    if user.id not in memo:
        memo[user.id] = [link.connector for link in
                         LegacyLink.select(LegacyLink.connector).where(LegacyLink.user == user.id)
                         .order_by(LegacyLink.id)]
    return [running[name] for name in memo[user.id] if name in running]


def sync_source(user: User | None) -> Connector | None:
    """The ``sync`` connector that keeps ``user``'s password, or None."""
    linked = _linked(user, "sync")
    return linked[0] if linked else None


def shadow_sources(user: User | None) -> list[Connector]:
    """The ``shadow`` connectors ``user`` is linked to (asked in the background)."""
    return _linked(user, "shadow")
