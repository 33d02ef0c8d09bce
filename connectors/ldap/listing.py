"""Listing the users of an ``ldap`` directory for ``ferry roster pull``: a paged search.

The service account searches ``base_dn`` (with ``search_scope``) with ``list_filter``, by
default the ``user_filter`` with ``*`` where the identifier goes (``(mail={identifier})``
becomes ``(mail=*)``: every entry with a ``mail``), page by page with the simple paged results
control (RFC 2696). Each entry gives the claims a sign-in would read (its DN and
``attributes``) and the identifiers the connector's ``mapping`` makes of them; the subject is
the ``subject_attribute`` (or the DN with ``subject_dn_fallback``). An entry whose subject the
service account cannot read is listed by its e-mail, username or phone alone.

The cursor is the directory's paging cookie, in base64. A cookie belongs to the connection it
came on (OpenLDAP refuses it on any other), so the listing keeps its connection open from one
page to the next. A pull resumed in a new process brings a cookie of a connection that is gone:
when the directory refuses it, the listing starts again from the first page
(``ListedPage.restarted``); storing is idempotent, so nothing is duplicated.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from connectors.ldap.protocol import ldap3
from connectors.listing import ListedPage, ListedUser

if TYPE_CHECKING:
    from connectors.ldap import LdapConnector

log = logging.getLogger(__name__)
#: RFC 2696 simple paged results control.
PAGED_RESULTS_OID = "1.2.840.113556.1.4.319"


class _CookieRefused(Exception):
    """The directory would not go on from a cookie brought from another connection."""


class LdapListing:
    """The paged search of one ``ldap`` connector, and the connection it keeps between pages."""

    def __init__(self, connector: LdapConnector) -> None:
        self.connector = connector
        self._lock = threading.Lock()
        self._stack: ExitStack | None = None
        self._conn: ldap3.Connection | None = None
        self._cookie: bytes | None = None  # what the open connection's next page takes

    def page(self, cursor: str | None, size: int) -> ListedPage:
        """The page after ``cursor`` (see the module docstring)."""
        with self._lock:
            try:
                return self._page(cursor, size)
            except BaseException:
                self.close()  # the connection's paging state is unknown now
                raise

    def close(self) -> None:
        """Close the listing's connection, if one is open."""
        stack, self._stack, self._conn, self._cookie = self._stack, None, None, None
        if stack is not None:
            stack.close()

    def _page(self, cursor: str | None, size: int) -> ListedPage:
        cookie = _cookie(cursor)
        restarted = cursor is not None and cookie is None
        if restarted:
            log.warning("connector %s: the listing cursor is not a paging cookie; starting over",
                        self.connector.name)
        if self._conn is None or cookie is None or cookie != self._cookie:
            self.close()
            self._open()
        try:
            entries, next_cookie = self._search(cookie, size, brought=cookie is not None
                                                and self._cookie is None)
        except _CookieRefused:
            log.warning("connector %s: the directory refused the saved paging cookie (cookies "
                        "end with their connection); listing again from the first page",
                        self.connector.name)
            self.close()
            self._open()
            entries, next_cookie = self._search(None, size, brought=False)
            restarted = True
        self._cookie = next_cookie
        if not next_cookie:
            self.close()
        users = [user for user in map(self._listed, entries) if user is not None]
        encoded = base64.b64encode(next_cookie).decode("ascii") if next_cookie else None
        return ListedPage(users, encoded, restarted)

    def _open(self) -> None:
        settings = self.connector.settings
        stack = ExitStack()
        try:
            self._conn = stack.enter_context(
                self.connector._connection(settings.bind_dn, settings.bind_password))
        except BaseException:
            stack.close()
            raise
        self._stack = stack

    def _search(self, cookie: bytes | None, size: int,
                brought: bool) -> tuple[list[dict[str, Any]], bytes | None]:
        connector, settings, conn = self.connector, self.connector.settings, self._conn
        assert conn is not None
        conn.search(
            settings.base_dn, settings.listing_filter,
            search_scope=ldap3.SUBTREE if settings.search_scope == "subtree" else ldap3.LEVEL,
            attributes=[*settings.attributes, settings.subject_attribute],
            paged_size=max(1, size), paged_cookie=cookie, time_limit=connector.receive_timeout)
        result = conn.result or {}
        code = result.get("result")
        if code == 10:
            raise connector.unavailable(f"the directory referred the listing to "
                                        f"{', '.join(result.get('referrals') or [])}")
        if code == 32:
            raise connector.unavailable(f"base_dn {settings.base_dn!r} does not exist")
        if code != 0:
            if brought:
                raise _CookieRefused()
            raise connector.unavailable(f"the listing's search was refused: "
                                        f"{result.get('description')} ({code})")
        response = conn.response or []
        references = [uri for r in response if r.get("type") == "searchResRef"
                      for uri in r.get("uri") or []]
        if references and settings.referrals == "unavailable":
            raise connector.unavailable(
                f"the directory referred part of the listing to {', '.join(references)}: "
                "narrow base_dn, or set referrals = \"ignore\"")
        control = (result.get("controls") or {}).get(PAGED_RESULTS_OID) or {}
        next_cookie = (control.get("value") or {}).get("cookie") or None
        return [r for r in response if r.get("type") == "searchResEntry"], next_cookie

    def _listed(self, entry: dict[str, Any]) -> ListedUser | None:
        connector = self.connector
        subjects = connector._values(entry, connector.settings.subject_attribute)
        subject = subjects[0] if subjects else (
            entry["dn"] if connector.settings.subject_dn_fallback else None)
        listed = ListedUser.from_claims(subject, connector._claims(entry), connector.mapping)
        if not listed.keys:
            log.warning("connector %s: entry %r has no subject and no identifier the mapping "
                        "reads; not listed", connector.name, entry["dn"])
            return None
        return listed


def _cookie(cursor: str | None) -> bytes | None:
    if not cursor:
        return None
    try:
        return base64.b64decode(cursor, validate=True) or None
    except (binascii.Error, ValueError):
        return None
