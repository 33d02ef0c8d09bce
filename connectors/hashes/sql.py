"""The SQL side of the ``hashes`` connector: one read-only, parameterised query per sign-in
(and, with ``list_query``, one per page of ``ferry roster pull``).

:class:`SqlSource` queries SQLite (opened read-only) or PostgreSQL (read-only transactions,
``statement_timeout``). The query names the identifier ``:identifier``; it is bound by the
driver, never formatted into the SQL. A database that cannot answer raises
:class:`~connectors.hashes.sources.SourceProblem` (an outage); a row that is one user's problem
(several rows for one identifier, no subject, a hash that is not text) raises
:class:`~connectors.hashes.sources.RecordProblem`.
"""

from __future__ import annotations

import math
import os
import re
import sqlite3
import time
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import psycopg
from psycopg.rows import dict_row

from connectors.hashes.sources import Fields, LegacyRecord, RecordProblem, SourceProblem

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def named_parameters(query: str) -> list[tuple[int, int, str]]:
    """``(start, end, name)`` of every ``:name`` outside quotes and comments (``::`` casts skipped)."""
    found, i, size = [], 0, len(query)
    while i < size:
        char = query[i]
        if char in "'\"":
            end = query.find(char, i + 1)
            i = size if end < 0 else end + 1
        elif query.startswith("--", i):
            end = query.find("\n", i)
            i = size if end < 0 else end + 1
        elif query.startswith("/*", i):
            end = query.find("*/", i + 2)
            i = size if end < 0 else end + 2
        elif query.startswith("::", i):
            i += 2
        elif char == ":" and (match := _NAME.match(query, i + 1)):
            found.append((i, match.end(), match.group(0)))
            i = match.end()
        else:
            i += 1
    return found


def query_problems(query: str) -> list[str]:
    """What is wrong with the ``query`` setting's parameters (start-up validation)."""
    names = [name for _start, _end, name in named_parameters(query)]
    if "identifier" not in names:
        return ["put :identifier where the identifier goes (it is bound, never formatted in)"]
    return [f"unknown parameter :{name} (only :identifier is bound)"
            for name in sorted(set(names) - {"identifier"})]


def list_query_problems(query: str) -> list[str]:
    """What is wrong with the ``list_query`` setting's parameters (start-up validation)."""
    names = {name for _start, _end, name in named_parameters(query)}
    problems = [f"put :{name} where the {what} goes (bound, never formatted in)"
                for name, what in (("limit", "page size"), ("offset", "rows to skip"))
                if name not in names]
    return problems + [f"unknown parameter :{name} (only :limit and :offset are bound)"
                       for name in sorted(names - {"limit", "offset"})]


def database_kind(url: str) -> str | None:
    """``sqlite`` or ``postgresql`` for a ``database_url`` Ferry can query; None otherwise."""
    if url.startswith("sqlite:///"):
        return "sqlite"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql"
    return None


class SqlSource:
    """One read-only query per call; a connection per call, so a restarted database is no matter."""

    def __init__(self, url: str, query: str, fields: Fields, connect_timeout: float,
                 read_timeout: float, list_query: str | None = None) -> None:
        self.kind = database_kind(url)
        self.url = url
        self.fields = fields
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._password = unquote(urlsplit(url).password or "")
        if self.kind == "sqlite":
            self.query = query  # sqlite3 binds :identifier itself
            self.list_query = list_query
            self._target = "file:" + quote(os.path.abspath(url[len("sqlite:///"):])) + "?mode=ro"
        else:
            self.query = _pyformat(query)
            self.list_query = _pyformat(list_query) if list_query else None

    def page(self, limit: int, offset: int) -> list[LegacyRecord | None]:
        """The records of the ``list_query`` page (None: a row that is no usable record)."""
        assert self.list_query is not None
        rows = self._fetch_rows(self.list_query, {"limit": limit, "offset": offset}, limit)
        missing = [f for f in self.fields.required() if rows and f not in rows[0]]
        if missing:
            raise SourceProblem(f"list_query returns no column {', '.join(map(repr, missing))}")
        records: list[LegacyRecord | None] = []
        for row in rows:
            try:
                records.append(self.fields.record(row))
            except RecordProblem:
                records.append(None)
        return records

    def find(self, identifier: str) -> LegacyRecord | None:
        """The one record for ``identifier``, or None; raises :class:`SourceProblem`."""
        rows = self._fetch(identifier)
        if not rows:
            return None
        missing = [f for f in self.fields.required() if f != self.fields.identifier and f not in rows[0]]
        if missing:  # the query itself is wrong: every user's sign-in fails alike
            raise SourceProblem(f"the query returns no column {', '.join(map(repr, missing))}")
        if len(rows) > 1:  # two legacy accounts share the identifier: Ferry never picks one
            raise RecordProblem("the query returned several rows for one identifier")
        try:
            return self.fields.record(rows[0])
        except RecordProblem as problem:
            raise RecordProblem(f"the query's row: {problem.reason}") from None

    def _fetch(self, identifier: str) -> list[dict[str, Any]]:
        return self._fetch_rows(self.query, {"identifier": identifier}, 2)

    def _fetch_rows(self, query: str, params: dict[str, Any], count: int) -> list[dict[str, Any]]:
        try:
            if self.kind == "sqlite":
                return self._sqlite(query, params, count)
            return self._postgresql(query, params, count)
        except (sqlite3.Error, psycopg.Error) as error:
            message = str(error).strip().splitlines()[0] if str(error).strip() else ""
            if self._password:
                message = message.replace(self._password, "***")
            if isinstance(error, psycopg.errors.QueryCanceled) or "interrupted" in message:
                message = f"the query took longer than {self.read_timeout:g} s"
            raise SourceProblem(f"database query failed ({type(error).__name__}: {message})") from None

    def _sqlite(self, query: str, params: dict[str, Any], count: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + self.read_timeout
        connection = sqlite3.connect(self._target, uri=True, timeout=self.connect_timeout)
        try:
            connection.row_factory = sqlite3.Row
            connection.set_progress_handler(lambda: time.monotonic() > deadline, 1000)
            cursor = connection.execute(query, params)
            return [dict(row) for row in cursor.fetchmany(count)]
        finally:
            connection.close()

    def _postgresql(self, query: str, params: dict[str, Any], count: int) -> list[dict[str, Any]]:
        options = (f"-c statement_timeout={math.ceil(self.read_timeout * 1000)} "
                   "-c default_transaction_read_only=on")
        with psycopg.connect(self.url, connect_timeout=max(2, math.ceil(self.connect_timeout)),
                             autocommit=True, row_factory=dict_row, options=options) as connection:
            return connection.execute(query, params).fetchmany(count)


def _pyformat(query: str) -> str:
    """``:name`` -> ``%(name)s`` for psycopg, every literal ``%`` doubled."""
    parts, last = [], 0
    for start, end, name in named_parameters(query):
        parts.append(query[last:start].replace("%", "%%"))
        parts.append(f"%({name})s")
        last = end
    parts.append(query[last:].replace("%", "%%"))
    return "".join(parts)
