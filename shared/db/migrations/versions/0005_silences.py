"""silences (maintenance windows), and the silenced / unsilenced alert events

Revision ID: 0005
Revises: 0003 (to be re-chained onto 0004 at merge)
Create Date: 2026-12-01 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db.types

revision: str = "0005"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAMED = "name IS NOT NULL"
_EVENTS = "'opened', 'retriggered', 'escalated', 'acknowledged', 'resolved', 'notified', 'delivery_failed'"


def _utc(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, shared.db.types.UtcDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "silences",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Unicode(length=100), nullable=True),
        sa.Column("kpi", sa.Unicode(length=255), nullable=True),
        sa.Column("owner", sa.Unicode(length=100), nullable=True),
        sa.Column("key_glob", sa.Unicode(length=255), nullable=True),
        _utc("starts_at", nullable=False),
        _utc("ends_at"),
        sa.Column("weekly_days", sa.Unicode(length=27), nullable=True),
        sa.Column("start_minute", sa.SmallInteger(), nullable=True),
        sa.Column("end_minute", sa.SmallInteger(), nullable=True),
        sa.Column("timezone", sa.Unicode(length=64), nullable=True),
        sa.Column("created_by", sa.Unicode(length=100), nullable=False),
        sa.Column("reason", sa.Unicode(length=500), nullable=False),
        sa.Column("source", sa.Unicode(length=16), nullable=False),
        _utc("created_at", nullable=False),
        _utc("expired_at"),
        sa.Column("expired_by", sa.Unicode(length=100), nullable=True),
        _utc("next_end_at"),
        sa.CheckConstraint("kpi IS NOT NULL OR owner IS NOT NULL", name=op.f("ck_silences_has_matcher")),
        sa.CheckConstraint(
            "weekly_days IS NOT NULL OR ends_at IS NOT NULL", name=op.f("ck_silences_has_end")
        ),
        sa.CheckConstraint(
            "(weekly_days IS NULL AND start_minute IS NULL AND end_minute IS NULL AND timezone IS NULL)"
            " OR (weekly_days IS NOT NULL AND start_minute IS NOT NULL AND end_minute IS NOT NULL"
            " AND timezone IS NOT NULL)",
            name=op.f("ck_silences_weekly_complete"),
        ),
        sa.CheckConstraint(
            "start_minute IS NULL OR (start_minute BETWEEN 0 AND 1439 AND end_minute BETWEEN 0 AND 1439)",
            name=op.f("ck_silences_minutes_range"),
        ),
        sa.CheckConstraint("source IN ('cli', 'api', 'definitions')", name=op.f("ck_silences_source_valid")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_silences")),
    )
    op.create_index(
        "ux_silences_name",
        "silences",
        ["name"],
        unique=True,
        sqlite_where=sa.text(NAMED),
        postgresql_where=sa.text(NAMED),
        mssql_where=sa.text(NAMED),
    )
    for column in ("kpi", "owner", "ends_at", "next_end_at"):
        op.create_index(f"ix_silences_{column}", "silences", [column], unique=False)
    _event_types(f"{_EVENTS}, 'silenced', 'unsilenced'")


def downgrade() -> None:
    op.execute("DELETE FROM alert_events WHERE event_type IN ('silenced', 'unsilenced')")
    _event_types(_EVENTS)
    op.drop_table("silences")


def _event_types(listed: str) -> None:
    with op.batch_alter_table("alert_events") as batch:
        batch.drop_constraint(op.f("ck_alert_events_event_type_valid"), type_="check")
        batch.create_check_constraint(op.f("ck_alert_events_event_type_valid"), f"event_type IN ({listed})")
