"""Small statement helpers that behave the same on every supported database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, CursorResult, Table, and_, bindparam, insert, update
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


def in_list(column: ColumnElement[Any], count: int, prefix: str) -> ColumnElement[bool]:
    """`column IN (:prefix0, ..., :prefix<count-1>)`. A statement built once per list size (see its callers'
    caches) is compiled once and, being the same text each time, prepared by drivers that prepare repeated
    statements; an expanding IN is re-rendered on every execution."""
    return column.in_([bindparam(f"{prefix}{i}", type_=column.type) for i in range(count)])


def in_params(prefix: str, values: Sequence[Any]) -> dict[str, Any]:
    """The bind parameters of an `in_list` of `values`."""
    return {f"{prefix}{i}": value for i, value in enumerate(values)}
