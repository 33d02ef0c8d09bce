"""The database handle every model binds to, and the small field types they share."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import peewee

#: Bound to a real database by :func:`models.database.init_app`.
db = peewee.DatabaseProxy()


def utcnow() -> datetime:
    """Naive UTC, the one time representation stored in every table."""
    return datetime.now(UTC).replace(tzinfo=None)


class JSONField(peewee.TextField):
    """JSON in a text column: portable between SQLite and PostgreSQL, never pickle."""

    def db_value(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)

    def python_value(self, value: str | None) -> Any:
        return None if value is None else json.loads(value)


class BaseModel(peewee.Model):
    class Meta:
        database = db
        legacy_table_names = False
