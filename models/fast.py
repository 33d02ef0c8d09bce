"""The statements of the sign-in path, compiled once per database instead of at every call.

peewee turns a query into SQL at every execution, and for the short statements of a sign-in
that costs far more than running them: reading one user by id is about 280 µs of SQL
generation and 11 µs of SQLite (``bench/README.md``, "Where the time goes"). A password sign-in
ran about thirty such statements; it now runs thirteen, plus the app and the store's revision
at most once a second per process. The functions here cover the shapes the hot path uses
(equality lookups, an existence check, an insert, an update with increments, a delete, a
one-time claim), plus :func:`statement` for one that fits none of them; they keep
the SQL of each shape per database type and model, and convert values with the fields' own
``db_value`` and ``python_value``, so what they read and write is what peewee would.

Everything else, and every query with more than equality, stays ordinary peewee. The SQL is
made of the model's table and column names and placeholders only; every value is bound as a
parameter (hence the ``noqa: S608``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import peewee

from models.base import db

M = TypeVar("M", bound=peewee.Model)

_sql: dict[tuple, str] = {}


@dataclass(frozen=True)
class Increment:
    """``column = column + by`` in :func:`update`."""

    by: int = 1


def _database() -> peewee.Database:
    database = db.obj
    if database is None:
        raise peewee.InterfaceError("no database: models.database.init was not called")
    return database


def _quote(database: peewee.Database, name: str) -> str:
    opening, closing = database.quote
    return f"{opening}{name}{closing}"


def _field(model: type[peewee.Model], name: str) -> peewee.Field:
    try:
        return model._meta.fields[name]
    except KeyError:
        raise AttributeError(f"{model.__name__} has no field {name!r}") from None


def _keys(equals: dict[str, Any]) -> tuple[str, ...]:
    if any(value is None for value in equals.values()):  # "= NULL" would match nothing, silently
        raise ValueError("a key compared with None: use peewee's .is_null()")
    return tuple(equals)


def _where(database: peewee.Database, model: type[peewee.Model], names: tuple[str, ...]) -> str:
    return " AND ".join(
        f"{_quote(database, _field(model, name).column_name)} = {database.param}" for name in names)


def _compiled(key: tuple, build) -> str:
    sql = _sql.get(key)
    if sql is None:
        sql = _sql[key] = build()
    return sql


def statement(key: tuple, build) -> tuple[peewee.Database, str]:
    """The database, and the SQL ``build(database, name)`` writes for it, made once per database
    type and ``key``; ``name(model, field=None)`` is a table or column name quoted for it. For
    the one hot statement whose shape the functions below lack (see ``journeys/run.py``)."""
    database = _database()

    def name(model: type[peewee.Model], field: str | None = None) -> str:
        meta = model._meta
        return _quote(database, meta.table_name if field is None else _field(model, field).column_name)

    return database, _compiled((type(database), "statement", *key), lambda: build(database, name))


def _params(model: type[peewee.Model], values: dict[str, Any]) -> list[Any]:
    return [_field(model, name).db_value(value) for name, value in values.items()]


def _instance(model: type[M], row: tuple) -> M:
    data = {field.name: (field.python_value(value) if value is not None else None)
            for field, value in zip(model._meta.sorted_fields, row, strict=True)}
    instance = model(__no_default__=1, **data)
    instance._dirty.clear()
    return instance


def get(model: type[M], **equals: Any) -> M | None:
    """The first row of ``model`` whose fields equal ``equals`` (None: there is none).

    The same as ``model.get_or_none(...)`` with ``==`` on each field; use it for keys.
    """
    database, names = _database(), _keys(equals)

    def build() -> str:
        table = _quote(database, model._meta.table_name)
        columns = ", ".join(_quote(database, field.column_name)
                            for field in model._meta.sorted_fields)
        return f"SELECT {columns} FROM {table} WHERE {_where(database, model, names)} LIMIT 1"  # noqa: S608

    sql = _compiled((type(database), model, "get", names), build)
    row = database.execute_sql(sql, _params(model, equals)).fetchone()
    return None if row is None else _instance(model, row)


def claim(model: type[M], values: dict[str, Any], *, unset: str, later: tuple[str, Any],
          **equals: Any) -> M | None:
    """Set ``values`` on the one row whose fields equal ``equals``, whose ``unset`` field is
    NULL and whose ``later[0]`` is after ``later[1]``, and return it as it is now; None when no
    row matched. One statement (``UPDATE ... RETURNING``), so exactly one caller wins a row:
    a one-time code redeemed. Needs RETURNING (``models.database.supports_returning``)."""
    database, names, keys = _database(), tuple(values), _keys(equals)
    column, bound = later

    def build() -> str:
        table = _quote(database, model._meta.table_name)
        sets = ", ".join(f"{_quote(database, _field(model, name).column_name)} = {database.param}"
                         for name in names)
        columns = ", ".join(_quote(database, field.column_name) for field in model._meta.sorted_fields)
        return (f"UPDATE {table} SET {sets} WHERE {_where(database, model, keys)} "  # noqa: S608
                f"AND {_quote(database, _field(model, unset).column_name)} IS NULL "
                f"AND {_quote(database, _field(model, column).column_name)} > {database.param} "
                f"RETURNING {columns}")

    sql = _compiled((type(database), model, "claim", names, keys, unset, column), build)
    params = [*_params(model, values), *_params(model, equals), _field(model, column).db_value(bound)]
    row = database.execute_sql(sql, params).fetchone()
    return None if row is None else _instance(model, row)


def exists(model: type[peewee.Model], **equals: Any) -> bool:
    """Whether a row of ``model`` has fields equal to ``equals``."""
    database, names = _database(), _keys(equals)

    def build() -> str:
        table = _quote(database, model._meta.table_name)
        return f"SELECT 1 FROM {table} WHERE {_where(database, model, names)} LIMIT 1"  # noqa: S608

    sql = _compiled((type(database), model, "exists", names), build)
    return database.execute_sql(sql, _params(model, equals)).fetchone() is not None


def insert(model: type[M], **values: Any) -> M:
    """A new row of ``model``, as ``model.create(**values)`` makes it (defaults included).

    An auto-incremented primary key is read back (RETURNING on PostgreSQL, the row id on
    SQLite) and set on the instance returned.
    """
    database = _database()
    instance = model(**values)
    primary = model._meta.primary_key
    auto = isinstance(primary, peewee.AutoField) and instance.__data__.get(primary.name) is None
    data = {name: value for name, value in instance.__data__.items()
            if not (auto and name == primary.name)}
    names = tuple(data)
    returning = auto and isinstance(database, peewee.PostgresqlDatabase)

    def build() -> str:
        table = _quote(database, model._meta.table_name)
        columns = ", ".join(_quote(database, _field(model, name).column_name) for name in names)
        places = ", ".join([database.param] * len(names))
        tail = f" RETURNING {_quote(database, primary.column_name)}" if returning else ""
        return f"INSERT INTO {table} ({columns}) VALUES ({places}){tail}"  # noqa: S608

    sql = _compiled((type(database), model, "insert", names), build)
    cursor = database.execute_sql(sql, _params(model, data))
    if auto:
        setattr(instance, primary.name, cursor.fetchone()[0] if returning else cursor.lastrowid)
    instance._dirty.clear()
    return instance


def insert_unless_taken(model: type[M], **values: Any) -> M | None:
    """:func:`insert`, or None when a unique index already holds these values.

    Inside a transaction the INSERT runs in a savepoint, so a refusal leaves the transaction
    usable (PostgreSQL aborts a transaction at its first error); outside one it is one statement.
    """
    database = _database()
    try:
        if database.in_transaction():
            with database.atomic():
                return insert(model, **values)
        return insert(model, **values)
    except peewee.IntegrityError:
        return None


def update(model: type[peewee.Model], values: dict[str, Any], **equals: Any) -> int:
    """Set ``values`` (an :class:`Increment` adds to the column) on the rows of ``model`` whose
    fields equal ``equals``; how many rows changed."""
    database = _database()
    names, keys = tuple(values), _keys(equals)
    increments = tuple(name for name in names if isinstance(values[name], Increment))

    def build() -> str:
        table = _quote(database, model._meta.table_name)
        sets = []
        for name in names:
            column = _quote(database, _field(model, name).column_name)
            sets.append(f"{column} = ({column} + {database.param})" if name in increments
                        else f"{column} = {database.param}")
        return f"UPDATE {table} SET {', '.join(sets)} WHERE {_where(database, model, keys)}"  # noqa: S608

    sql = _compiled((type(database), model, "update", names, increments, keys), build)
    params = [values[name].by if name in increments else _field(model, name).db_value(values[name])
              for name in names] + _params(model, equals)
    return database.execute_sql(sql, params).rowcount


def delete(model: type[peewee.Model], **equals: Any) -> int:
    """Delete the rows of ``model`` whose fields equal ``equals``; how many went."""
    database, keys = _database(), _keys(equals)

    def build() -> str:
        table = _quote(database, model._meta.table_name)
        return f"DELETE FROM {table} WHERE {_where(database, model, keys)}"  # noqa: S608

    sql = _compiled((type(database), model, "delete", keys), build)
    return database.execute_sql(sql, _params(model, equals)).rowcount
