"""Small statement helpers that behave the same on every supported database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, CursorResult, Table, and_, insert, update
from sqlalchemy.exc import IntegrityError


def upsert(connection: Connection, table: Table, key: dict[str, Any], values: dict[str, Any]) -> None:
    """Update the row with `key`, or insert it. When a concurrent transaction inserts the same key first, the
    insert (in a savepoint) fails on the key and the update is retried, so the caller never sees the race."""
    if _update(connection, table, key, values):
        return
    try:
        with connection.begin_nested():
            connection.execute(insert(table).values(**key, **values))
    except IntegrityError:
        _update(connection, table, key, values)


def _update(connection: Connection, table: Table, key: dict[str, Any], values: dict[str, Any]) -> bool:
    condition = and_(*(table.c[name] == value for name, value in key.items()))
    return connection.execute(update(table).where(condition).values(values)).rowcount > 0


def inserted_id(result: CursorResult[Any]) -> int:
    """The integer primary key of the row an INSERT created."""
    key = result.inserted_primary_key
    if key is None or key[0] is None:
        raise RuntimeError("the INSERT reported no primary key")
    return int(key[0])
