"""Finding a KPI by what an operator typed (its id or indicator), and the few columns of its row that a manual
run or a backfill reads besides its definition."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from shared.db.tables import kpis
from shared.errors import KpiNotFound


def find_kpi(connection: Connection, reference: str) -> int:
    """The id of the KPI whose id or indicator (case-insensitive) is `reference`; `KpiNotFound` if none."""
    return find_kpi_named(connection, reference)[0]


def find_kpi_named(connection: Connection, reference: str) -> tuple[int, str]:
    """The id and indicator of the KPI whose id or indicator (case-insensitive, surrounding blanks ignored) is
    `reference`; `KpiNotFound` if none."""
    typed = reference.strip()
    condition = kpis.c.id == int(typed) if typed.isdigit() else func.lower(kpis.c.indicator) == typed.lower()
    row = connection.execute(select(kpis.c.id, kpis.c.indicator).where(condition)).first()
    if row is None:
        raise KpiNotFound(reference)
    return int(row.id), str(row.indicator)


def indicator_and_activity(connection: Connection, kpi_id: int) -> tuple[str, bool]:
    """The KPI's indicator and whether it is active (the KPI must exist)."""
    indicator, active = connection.execute(
        select(kpis.c.indicator, kpis.c.is_active).where(kpis.c.id == kpi_id)
    ).one()
    return str(indicator), bool(active)


def consecutive_failures(connection: Connection, kpi_id: int) -> int:
    """How many of the KPI's executions in a row have failed (0 for a KPI that does not exist)."""
    failures = connection.scalar(select(kpis.c.consecutive_failures).where(kpis.c.id == kpi_id))
    return int(failures or 0)


def next_run_at(connection: Connection, kpi_id: int) -> datetime | None:
    """When the scheduler next runs the KPI; None when it is not scheduled."""
    moment: datetime | None = connection.scalar(select(kpis.c.next_run_at).where(kpis.c.id == kpi_id))
    return moment
