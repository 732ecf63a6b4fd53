"""Reads of the monitoring database for the health checks, and the lookup of the self-monitoring alert.

Each read is one statement through an index and costs what it measures, never a scan of history:
- active KPIs: the `next_run_at` index, which holds only schedulable KPIs (one row per active KPI);
- executions running past their lease: `(status, lease_until)`, one entry per stuck execution;
- executions finished in the last hour: `finished_at`, one hour of executions;
- a component's heartbeat: one `system_status` row by its key;
- undispatched outbox entries: `(dispatched_at, created_at)`, only the entries still waiting;
- deliveries that failed for good in the last 24 h: `alert_events.created_at`, one day of events;
- the unresolved system alert of a metric key: the unique partial index, at most one row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select, text

from shared.db.tables import alert_events, alerts, kpi_executions, kpis, outbox, status_is, system_status
from shared.domain.alert import UNRESOLVED, AlertEventType, AlertKind
from shared.domain.execution import ExecutionStatus
from shared.domain.health import KpiClock, staleness_since
from shared.domain.kpi import Schedule

FAILED = (ExecutionStatus.FAILED.value, ExecutionStatus.TIMED_OUT.value)


@dataclass(frozen=True, kw_only=True, slots=True)
class Heartbeat:
    """A component's last recorded run: its status word (`ok`, `error`, a health status) and time."""

    status: str
    at: datetime


def ping(connection: Connection) -> None:
    """One round trip to the database (`SELECT 1`); raises what the driver raises when it is unreachable."""
    connection.execute(text("SELECT 1"))


def active_kpi_clocks(connection: Connection) -> list[KpiClock]:
    """Every active, scheduled KPI with its schedule and the moment its staleness counts from."""
    query = select(
        kpis.c.indicator,
        kpis.c.frequency_minutes,
        kpis.c.schedule_cron,
        kpis.c.schedule_timezone,
        kpis.c.last_success_at,
        kpis.c.updated_at,
    ).where(kpis.c.next_run_at.is_not(None), kpis.c.is_active)
    return [
        KpiClock(
            indicator=row.indicator,
            schedule=Schedule(
                frequency_minutes=row.frequency_minutes,
                cron=row.schedule_cron,
                timezone=row.schedule_timezone or "UTC",
            ),
            since=staleness_since(row.last_success_at, row.updated_at),
        )
        for row in connection.execute(query)
    ]


def stuck_executions(connection: Connection, *, now: datetime) -> int:
    """Executions still running whose lease has expired: their executor died or overran."""
    return int(
        connection.scalar(
            select(func.count()).where(
                status_is(kpi_executions.c.status, ExecutionStatus.RUNNING),
                kpi_executions.c.lease_until < now,
            )
        )
        or 0
    )


def finished_since(connection: Connection, *, since: datetime) -> tuple[int, int]:
    """Executions finished at or after `since`, and how many of them failed or timed out."""
    query = (
        select(kpi_executions.c.status, func.count())
        .where(kpi_executions.c.finished_at >= since)
        .group_by(kpi_executions.c.status)
    )
    counts = {status: int(count) for status, count in connection.execute(query)}
    return sum(counts.values()), sum(counts.get(status, 0) for status in FAILED)


def heartbeat_of(connection: Connection, component: str) -> Heartbeat | None:
    """The component's heartbeat, or None when it never ran against this database."""
    row = connection.execute(
        select(system_status.c.status, system_status.c.heartbeat_at).where(
            system_status.c.component == component
        )
    ).first()
    return None if row is None else Heartbeat(status=row.status, at=row.heartbeat_at)


def outbox_backlog(connection: Connection) -> tuple[int, datetime | None]:
    """How many outbox entries wait to be dispatched, and when the oldest of them was written."""
    row = connection.execute(
        select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.dispatched_at.is_(None))
    ).one()
    return int(row[0]), row[1]


def failed_deliveries_since(connection: Connection, *, since: datetime) -> int:
    """`delivery_failed` audit events since `since`: deliveries failed for good, outbox entries abandoned,
    alert-events messages lost to the poison queue."""
    return int(
        connection.scalar(
            select(func.count()).where(
                alert_events.c.created_at >= since,
                alert_events.c.event_type == AlertEventType.DELIVERY_FAILED.value,
            )
        )
        or 0
    )


def unresolved_system_alert(connection: Connection, metric_key: str) -> int | None:
    """The id of the unresolved system (self-monitoring) alert of `metric_key`, if there is one."""
    return connection.scalar(
        select(alerts.c.id).where(
            alerts.c.kpi_id.is_(None),
            alerts.c.kind == AlertKind.SYSTEM.value,
            alerts.c.metric_key == metric_key,
            alerts.c.status.in_([status.value for status in UNRESOLVED]),
        )
    )
