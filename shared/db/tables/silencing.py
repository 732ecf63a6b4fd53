"""Silences: one-off or weekly windows in which matching alerts notify nobody."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Index, Integer, SmallInteger, Table, Unicode, text

from shared.db.tables.common import created_at, metadata, one_of
from shared.db.types import UtcDateTime
from shared.domain.silence import SilenceSource

NAMED_SQL = "name IS NOT NULL"


silences = Table(
    "silences",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # Set for silences the definitions file owns: its identity there (upserted by name on import).
    Column("name", Unicode(100)),
    Column("kpi", Unicode(255)),
    Column("owner", Unicode(100)),
    Column("key_glob", Unicode(255)),
    Column("starts_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime),
    # Weekly windows: days as `mon,tue`, minutes since local midnight, an IANA zone (all NULL: one-off).
    Column("weekly_days", Unicode(27)),
    Column("start_minute", SmallInteger),
    Column("end_minute", SmallInteger),
    Column("timezone", Unicode(64)),
    Column("created_by", Unicode(100), nullable=False),
    Column("reason", Unicode(500), nullable=False),
    Column("source", Unicode(16), nullable=False),
    created_at(),
    Column("expired_at", UtcDateTime),
    Column("expired_by", Unicode(100)),
    # The next end of this silence the alert processor has not handled yet (NULL: none to come): the
    # processor selects silences whose end has passed here, then their open alerts, never all alerts.
    Column("next_end_at", UtcDateTime),
    CheckConstraint("kpi IS NOT NULL OR owner IS NOT NULL", name="has_matcher"),
    CheckConstraint("weekly_days IS NOT NULL OR ends_at IS NOT NULL", name="has_end"),
    CheckConstraint(
        "(weekly_days IS NULL AND start_minute IS NULL AND end_minute IS NULL AND timezone IS NULL)"
        " OR (weekly_days IS NOT NULL AND start_minute IS NOT NULL AND end_minute IS NOT NULL"
        " AND timezone IS NOT NULL)",
        name="weekly_complete",
    ),
    CheckConstraint(
        "start_minute IS NULL OR (start_minute BETWEEN 0 AND 1439 AND end_minute BETWEEN 0 AND 1439)",
        name="minutes_range",
    ),
    one_of("source", SilenceSource),
    Index(
        "ux_silences_name",
        "name",
        unique=True,
        sqlite_where=text(NAMED_SQL),
        postgresql_where=text(NAMED_SQL),
        mssql_where=text(NAMED_SQL),
    ),
    Index("ix_silences_kpi", "kpi"),
    Index("ix_silences_owner", "owner"),
    Index("ix_silences_ends_at", "ends_at"),
    Index("ix_silences_next_end_at", "next_end_at"),
)
