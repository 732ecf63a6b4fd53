"""Column types whose behaviour must be the same on SQLite, PostgreSQL and SQL Server."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Integer
from sqlalchemy.types import TypeDecorator

from shared.domain.clock import require_aware


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime everywhere.

    PostgreSQL stores `timestamptz` and SQL Server `datetimeoffset`; SQLite has no time zones, so the value is
    stored as naive UTC text, which still sorts and compares correctly. Naive datetimes are refused on the
    way in, and every value comes back aware, in UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = require_aware(value, "a stored datetime").astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias), never a BIGINT one.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def finite_or_none(value: float | None) -> float | None:
    """`value`, or None when it is infinite or NaN: SQL Server's float cannot store those, and an infinite
    deviation is as undefined as a zero baseline's."""
    return value if value is not None and math.isfinite(value) else None
