"""The few cheap reads behind `GET /api/metrics`: aggregates over indexed columns, and the KPI list.

Each read touches an index that exists for the hot paths (unresolved alerts by status, finished executions by
`finished_at`, the outbox by `dispatched_at`, deliveries by status), except `kpi_freshness`, which reads the
`kpis` table whole: it holds one row per KPI definition, a few hundred at most.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from shared.db.tables import alerts, kpi_executions, kpis, notifications, outbox, system_status
from shared.domain.alert import UNRESOLVED
from shared.domain.kpi import Schedule
from shared.domain.notification import DeliveryStatus


@dataclass(frozen=True, kw_only=True, slots=True)
class KpiFreshness:
    """What staleness is judged on: a KPI's schedule, its last success and its last change."""

    indicator: str
    is_active: bool
    scheduled: bool  #: it has a next run (`next_run_at`)
    schedule: Schedule
    last_success_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class Backlog:
    """Outbox entries not dispatched yet, and when the oldest of them was written."""

    size: int
    oldest_at: datetime | None


def kpi_freshness(connection: Connection) -> list[KpiFreshness]:
    """Every KPI, by indicator."""
    query = select(
        kpis.c.indicator,
        kpis.c.is_active,
        kpis.c.frequency_minutes,
        kpis.c.schedule_cron,
        kpis.c.schedule_timezone,
        kpis.c.next_run_at,
        kpis.c.last_success_at,
        kpis.c.updated_at,
    ).order_by(kpis.c.indicator)
    return [
        KpiFreshness(
            indicator=row.indicator,
            is_active=bool(row.is_active),
            scheduled=row.next_run_at is not None,
            schedule=Schedule(
                frequency_minutes=row.frequency_minutes,
                cron=row.schedule_cron,
                timezone=row.schedule_timezone or "UTC",
            ),
            last_success_at=row.last_success_at,
            updated_at=row.updated_at,
        )
        for row in connection.execute(query)
    ]


def unresolved_alerts(connection: Connection) -> dict[tuple[str, str, int], int]:
    """Unresolved alerts counted by (severity, status, escalation level)."""
    query = (
        select(alerts.c.severity, alerts.c.status, alerts.c.escalation_level, func.count())
        .where(alerts.c.status.in_([status.value for status in UNRESOLVED]))
        .group_by(alerts.c.severity, alerts.c.status, alerts.c.escalation_level)
    )
    rows = connection.execute(query)
    return {(str(severity), str(status), int(level)): int(count) for severity, status, level, count in rows}


def finished_executions(connection: Connection, *, since: datetime) -> dict[str, int]:
    """Executions finished at or after `since`, counted by status."""
    query = (
        select(kpi_executions.c.status, func.count())
        .where(kpi_executions.c.finished_at >= since)
        .group_by(kpi_executions.c.status)
    )
    return {str(status): int(count) for status, count in connection.execute(query)}


def outbox_backlog(connection: Connection) -> Backlog:
    """The undispatched outbox entries."""
    query = select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.dispatched_at.is_(None))
    size, oldest_at = connection.execute(query).one()
    return Backlog(size=int(size), oldest_at=oldest_at)


def deliveries_by_channel(
    connection: Connection, *, status: DeliveryStatus, created_since: datetime | None = None
) -> dict[str, int]:
    """Deliveries in `status` (created at or after `created_since`), counted by channel. Pending ones are
    counted only once a try failed: they wait for a retry."""
    query = (
        select(notifications.c.channel, func.count())
        .where(notifications.c.status == status.value)
        .group_by(notifications.c.channel)
    )
    if created_since is not None:
        query = query.where(notifications.c.created_at >= created_since)
    if status is DeliveryStatus.PENDING:
        query = query.where(notifications.c.attempts > 0)
    return {str(channel): int(count) for channel, count in connection.execute(query)}


def heartbeats(connection: Connection) -> dict[str, datetime]:
    """When each periodic component last reported."""
    query = select(system_status.c.component, system_status.c.heartbeat_at)
    return {str(component): at for component, at in connection.execute(query)}
