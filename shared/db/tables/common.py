"""What every table of the monitoring schema shares: the one `MetaData` (with its naming convention), the
number type and the column and constraint helpers."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlalchemy import CheckConstraint, Column, Float, MetaData

from shared.db.types import UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Wide enough for any value a KPI returns: a double never overflows the way DECIMAL(5,2) did.
Number = Float(precision=53)


def one_of(column: str, values: type[Enum]) -> CheckConstraint:
    """A CHECK that `column` holds one of the enum's values (named `<column>_valid`)."""
    listed = ", ".join(f"'{member.value}'" for member in values)
    return CheckConstraint(f"{column} IN ({listed})", name=f"{column}_valid")


def created_at() -> Column[datetime]:
    return Column("created_at", UtcDateTime, nullable=False)
