"""Listing the users of a ``hashes`` source for ``ferry roster pull``.

* **Files** (``csv``, ``jsonl``, ``json``) always list: every usable record of the export as
  Ferry last read it, in file order, records without the identifier column too. The cursor is
  the number of records already listed; when the file changes between two pages, a resumed
  pull may see records again (stored idempotently) or, if records were removed before the
  cursor, skip some: pull again from the start (``--restart``) after replacing the export.
* **SQL** lists only with ``list_query``: a ``SELECT`` of one page with ``:limit`` and
  ``:offset`` where the page size and the rows to skip go, bound by the driver, e.g.
  ``SELECT id, email, first_name, last_name, is_active FROM users ORDER BY id LIMIT :limit
  OFFSET :offset``. Order by a unique column, or pages overlap and miss rows. The cursor is the
  offset.

A listed user carries the record's claims (every column but the hash and the salt, which are
never listed) mapped by the connector's ``mapping``, and ``legacy_disabled: true`` for a
disabled account. A row without its subject is left out and logged.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from connectors.hashes.sources import FileSource, LegacyRecord, SourceProblem
from connectors.listing import ListedPage, ListedUser

if TYPE_CHECKING:
    from connectors.hashes import HashesConnector

log = logging.getLogger(__name__)


class HashesListing:
    """The listing hooks of the ``hashes`` connector (mixed into it)."""

    def cannot_list(self: HashesConnector) -> str | None:  # type: ignore[misc]
        """None for files and for SQL with ``list_query``."""
        if isinstance(self.source, FileSource) or self.settings.list_query:
            return None
        return "a SQL source lists its users only with list_query (see connectors/hashes/listing.py)"

    def list_page(self: HashesConnector, cursor: str | None,  # type: ignore[misc]
                  size: int) -> ListedPage:
        """The records after ``cursor`` (an offset), at most ``size`` of them."""
        offset, restarted = _offset(cursor)
        if restarted:
            log.warning("connector %s: the listing cursor is not an offset; starting over",
                        self.name)
        size = max(1, size)
        try:
            if isinstance(self.source, FileSource):
                every = self.source.listed()
                page: list[LegacyRecord | None] = list(every[offset:offset + size])
                more = offset + size < len(every)
            else:
                page = list(self.source.page(size, offset))
                more = len(page) == size
        except SourceProblem as problem:
            raise self.unavailable(problem.reason) from None
        if None in page:
            log.warning("connector %s: %d rows of the listing have no usable subject; not listed",
                        self.name, page.count(None))
        users = [_listed(self, record) for record in page if record is not None]
        return ListedPage(users, str(offset + len(page)) if more else None, restarted)


def _listed(connector: HashesConnector, record: LegacyRecord) -> ListedUser:
    attributes = dict(record.claims)
    if record.disabled:
        attributes["legacy_disabled"] = True
    return ListedUser.from_claims(record.subject, record.claims, connector.mapping,
                                  attributes=attributes)


def _offset(cursor: str | None) -> tuple[int, bool]:
    if cursor is None:
        return 0, False
    if cursor.isdigit():
        return int(cursor), False
    return 0, True
