"""Listing a legacy IDP's users, page by page: the hook behind ``ferry roster pull``.

Every connector has the hook (:class:`UserListing` is mixed into
:class:`connectors.base.Connector`); the types whose legacy side can list users implement
:meth:`UserListing.list_page` and say, per instance, whether they can (:meth:`cannot_list`).
A listing is a chain of pages linked by an opaque **cursor**: text the connector alone reads
(an LDAP paging cookie, a Cognito ``PaginationToken``, a row offset), which the caller keeps
after each page it has stored, so a listing that failed half-way resumes from there.

Pages are fetched through :meth:`UserListing.list_users`, the guarded entry point: each page is
one call under the connector's deadline, circuit breaker, bulkhead and rate limit, as sign-ins
are (operation ``list_page`` in the latency record and ``/metrics``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from connectors.guard import CallGuard
from users.identifiers import normalise_email, normalise_username
from users.mapping import map_claims

log = logging.getLogger(__name__)

#: Users a page holds when the caller does not say; a connector may answer fewer.
DEFAULT_PAGE_SIZE = 100


@dataclass(frozen=True)
class ListedUser:
    """One user as the legacy IDP lists them: its subject, the identifiers Ferry matches on
    (normalised as :mod:`users.identifiers` does for sign-ins), the legacy attributes (never a
    password hash or another secret), and the last sign-in at the legacy side when it tells."""

    subject: str | None
    email: str | None = None
    username: str | None = None
    phone: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    last_signin_at: datetime | None = None

    @classmethod
    def from_claims(cls, subject: str | None, claims: dict[str, Any], mapping: dict[str, str],
                    attributes: dict[str, Any] | None = None,
                    last_signin_at: datetime | None = None) -> ListedUser:
        """The listed user whose identifiers the connector's ``mapping`` reads from ``claims``,
        exactly as a sign-in maps them; ``attributes`` default to the claims."""
        profile = map_claims(claims, mapping)
        return cls(
            subject=subject.strip() if isinstance(subject, str) and subject.strip() else None,
            email=_text(profile.get("email"), normalise_email),
            username=_text(profile.get("username"), normalise_username),
            phone=_text(profile.get("phone"), str.strip),
            attributes=dict(claims if attributes is None else attributes),
            last_signin_at=last_signin_at,
        )

    @property
    def keys(self) -> dict[str, str]:
        """The identifiers it has: ``subject``, ``email``, ``username``, ``phone``."""
        keys = {"subject": self.subject, "email": self.email, "username": self.username,
                "phone": self.phone}
        return {key: value for key, value in keys.items() if value}


def _text(value: Any, normalise: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return normalise(value) or None


@dataclass(frozen=True)
class ListedPage:
    """One page: its users, and the cursor of the next page (None: this was the last).

    ``restarted``: the connector could not go on from the cursor it was given (an LDAP paging
    cookie dies with its connection) and this page is the first again; storing is idempotent,
    so starting over duplicates nothing, it only takes longer.
    """

    users: list[ListedUser]
    cursor: str | None
    restarted: bool = False


class UserListing:
    """The listing hook of every connector (see the module docstring).

    Example::

        class AcmeConnector(PasswordConnector):
            type = "acme"

            def cannot_list(self):
                return None if self.settings.list_url else "set list_url to list users"

            def list_page(self, cursor, size):
                answer = self.http.request("GET", self.settings.list_url,
                                           params={"after": cursor or "", "limit": size})
                body = self.http.json(answer)
                users = [ListedUser.from_claims(str(u["id"]), u, self.mapping)
                         for u in body["users"]]
                return ListedPage(users, body.get("next") or None)
    """

    name: str
    type: ClassVar[str]
    guard: CallGuard
    mapping: dict[str, str]

    @property
    def can_list(self) -> bool:
        """Whether this instance can list its users (``ferry roster pull``)."""
        return self.cannot_list() is None

    def cannot_list(self) -> str | None:
        """Why this instance cannot list its users, for the operator; None when it can.

        Types that implement :meth:`list_page` override it (an instance may still lack a
        setting the listing needs: a listing query, AWS credentials).
        """
        return f"connectors of type {self.type!r} cannot list their users"

    def list_users(self, cursor: str | None = None, size: int = DEFAULT_PAGE_SIZE) -> ListedPage:
        """The page after ``cursor`` (None: the first), through the connector's guard."""
        return self.guard.call(self.list_page, cursor, size)

    def list_page(self, cursor: str | None, size: int) -> ListedPage:
        """Return the page of at most ``size`` users after ``cursor`` (None: the first page).

        The cursor of the returned page is the next page's, or None after the last; it must be
        text, and survive a restart of Ferry when the legacy side allows it. Raise
        :class:`~connectors.base.LegacyUnavailable` when the legacy side cannot answer. A user
        the listing cannot describe (no identifier at all) is left out and logged, never the
        whole page. Never put a password hash or another secret in the attributes.
        """
        raise NotImplementedError

    def end_listing(self) -> None:
        """Release what :meth:`list_page` keeps open between pages (an LDAP connection).

        Called when a listing ends, completed or not; the default holds nothing.
        """
