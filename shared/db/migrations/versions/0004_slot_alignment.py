"""slot alignment and stale alerts: move the next run of active frequency KPIs to the new alignment (whole
multiples of the period since Monday 1970-01-05 00:00 UTC, so weekly KPIs run on Mondays), and give every
unresolved KPI alert the `stale_at` from which auto-resolution counts

A data migration, written with SQLAlchemy Core on lightweight tables (never the application's models, which
move on), so it runs the same on SQLite, PostgreSQL and SQL Server. Each KPI's `next_run_at` becomes the
first aligned slot at or after the stored one; an unresolved alert's `stale_at` is its `last_triggered_at`
plus three of its KPI's periods (a cron KPI, or one without a period: plus one day). System alerts keep no
`stale_at` (they are never resolved by timeout). Rendered offline (`--sql`) it does nothing: the rows are
not known then; the scheduler aligns each KPI after its next run anyway, and an alert gets its `stale_at`
at its KPI's next evaluation.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 23:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import context, op

from shared.db.types import UtcDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EPOCH = datetime(1970, 1, 5, tzinfo=UTC)  # a Monday: see shared/domain/schedule.py
STALE_PERIODS = 3
UNKNOWN_PERIOD_STALE = timedelta(days=1)

kpis = sa.table(
    "kpis",
    sa.column("id", sa.Integer),
    sa.column("frequency_minutes", sa.Integer),
    sa.column("is_active", sa.Boolean),
    sa.column("next_run_at", UtcDateTime(timezone=True)),
)
alerts = sa.table(
    "alerts",
    sa.column("id", sa.BigInteger),
    sa.column("kpi_id", sa.Integer),
    sa.column("kind", sa.Unicode(24)),
    sa.column("status", sa.Unicode(16)),
    sa.column("last_triggered_at", UtcDateTime(timezone=True)),
    sa.column("stale_at", UtcDateTime(timezone=True)),
)


def aligned_at_or_after(moment: datetime, minutes: int) -> datetime:
    """The first whole multiple of `minutes` since EPOCH at or after `moment`."""
    period = timedelta(minutes=minutes)
    return EPOCH + -((EPOCH - moment) // period) * period


def upgrade() -> None:
    if context.is_offline_mode():
        return
    bind = op.get_bind()
    periods = _align_next_runs(bind)
    _fill_stale_at(bind, periods)


def _align_next_runs(bind: sa.Connection) -> dict[int, int]:
    """Move each active frequency KPI's next run; return every KPI's period in minutes (when it has one)."""
    rows = bind.execute(sa.select(kpis.c.id, kpis.c.frequency_minutes, kpis.c.is_active, kpis.c.next_run_at))
    periods: dict[int, int] = {}
    moves = []
    for kpi_id, minutes, active, next_run_at in rows:
        if not minutes or minutes <= 0:
            continue
        periods[kpi_id] = minutes
        if active and next_run_at is not None:
            aligned = aligned_at_or_after(next_run_at, minutes)
            if aligned != next_run_at:
                moves.append({"p_id": kpi_id, "p_next": aligned})
    if moves:
        statement = (
            sa.update(kpis)
            .where(kpis.c.id == sa.bindparam("p_id"))
            .values(next_run_at=sa.bindparam("p_next"))
        )
        bind.execute(statement, moves)
    return periods


def _fill_stale_at(bind: sa.Connection, periods: dict[int, int]) -> None:
    rows = bind.execute(
        sa.select(alerts.c.id, alerts.c.kpi_id, alerts.c.last_triggered_at).where(
            alerts.c.status.in_(["open", "acknowledged"]),
            alerts.c.kind != "system",
            alerts.c.stale_at.is_(None),
        )
    )
    changes = [
        {"p_id": alert_id, "p_stale": triggered + _stale_span(periods.get(kpi_id))}
        for alert_id, kpi_id, triggered in rows
    ]
    if changes:
        statement = (
            sa.update(alerts)
            .where(alerts.c.id == sa.bindparam("p_id"))
            .values(stale_at=sa.bindparam("p_stale"))
        )
        bind.execute(statement, changes)


def _stale_span(minutes: int | None) -> timedelta:
    return STALE_PERIODS * timedelta(minutes=minutes) if minutes else UNKNOWN_PERIOD_STALE


def downgrade() -> None:
    """Nothing to undo: the moved `next_run_at` values are valid slots under either alignment, and 0003's
    downgrade drops `stale_at`."""
