"""Read models for the management API: KPI summaries with their latest metrics, history ranges, alert pages,
an alert's timeline and deliveries. Reads only; every query rides an index (see each function).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select

from shared.db.tables import (
    alert_events,
    alerts,
    contacts,
    historical_data,
    kpi_executions,
    kpis,
    metric_states,
    notifications,
)
from shared.domain.alert import UNRESOLVED, AlertStatus

UNRESOLVED_VALUES = tuple(status.value for status in UNRESOLVED)


@dataclass(frozen=True, kw_only=True, slots=True)
class MetricPoint:
    slot: datetime
    key: str
    current: float
    expected: float | None
    lower: float | None
    upper: float | None
    breach: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class KpiSummary:
    id: int
    indicator: str
    owner: str
    priority: int
    is_active: bool
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_status: str | None
    consecutive_failures: int
    open_alerts: int
    metrics: tuple[MetricPoint, ...]


def kpi_summaries(connection: Connection, kpi_id: int | None = None) -> list[KpiSummary]:
    """Every KPI (or one) with its latest execution, open alert count and the metrics of its latest values."""
    rows = connection.execute(_summary_query(kpi_id)).mappings().all()
    ids = [int(row["id"]) for row in rows]
    opened = _open_counts(connection, kpi_id)
    latest = _latest_metrics(connection, kpi_id) if ids else {}
    return [
        KpiSummary(
            id=int(row["id"]),
            indicator=row["indicator"],
            owner=row["owner"],
            priority=int(row["priority"]),
            is_active=bool(row["is_active"]),
            next_run_at=row["next_run_at"],
            last_run_at=row["finished_at"] or row["started_at"],
            last_status=row["status"],
            consecutive_failures=int(row["consecutive_failures"]),
            open_alerts=opened.get(int(row["id"]), 0),
            metrics=tuple(latest.get(int(row["id"]), ())),
        )
        for row in rows
    ]


def _summary_query(kpi_id: int | None) -> Any:
    # The latest slot per KPI is one probe of the unique (kpi_id, slot) index.
    inner = kpi_executions.alias("inner_executions")
    latest_slot = (
        select(func.max(inner.c.slot)).where(inner.c.kpi_id == kpis.c.id).correlate(kpis).scalar_subquery()
    )
    query = (
        select(
            kpis.c.id,
            kpis.c.indicator,
            kpis.c.owner,
            kpis.c.priority,
            kpis.c.is_active,
            kpis.c.next_run_at,
            kpis.c.consecutive_failures,
            kpi_executions.c.status,
            kpi_executions.c.started_at,
            kpi_executions.c.finished_at,
        )
        .select_from(
            kpis.outerjoin(
                kpi_executions,
                and_(kpi_executions.c.kpi_id == kpis.c.id, kpi_executions.c.slot == latest_slot),
            )
        )
        .order_by(kpis.c.indicator)
    )
    return query if kpi_id is None else query.where(kpis.c.id == kpi_id)


def _open_counts(connection: Connection, kpi_id: int | None) -> dict[int, int]:
    query = (
        select(alerts.c.kpi_id, func.count())
        .where(alerts.c.status.in_(UNRESOLVED_VALUES), alerts.c.kpi_id.is_not(None))
        .group_by(alerts.c.kpi_id)
    )
    if kpi_id is not None:
        query = query.where(alerts.c.kpi_id == kpi_id)
    return {int(kpi): int(count) for kpi, count in connection.execute(query)}


def _latest_metrics(connection: Connection, kpi_id: int | None) -> dict[int, list[MetricPoint]]:
    """Each KPI's metrics of its latest window: per (kpi, key) of `metric_states`, one backward probe of the
    (kpi_id, metric_key, window_end) history index; keys missing from the KPI's latest window are dropped."""
    inner = historical_data.alias("newest")
    newest = (
        select(func.max(inner.c.window_end))
        .where(inner.c.kpi_id == metric_states.c.kpi_id, inner.c.metric_key == metric_states.c.metric_key)
        .correlate(metric_states)
        .scalar_subquery()
    )
    query = select(*_POINT_COLUMNS, historical_data.c.kpi_id).select_from(
        metric_states.join(
            historical_data,
            and_(
                historical_data.c.kpi_id == metric_states.c.kpi_id,
                historical_data.c.metric_key == metric_states.c.metric_key,
                historical_data.c.window_end == newest,
            ),
        )
    )
    if kpi_id is not None:
        query = query.where(metric_states.c.kpi_id == kpi_id)
    found: defaultdict[int, list[MetricPoint]] = defaultdict(list)
    for row in connection.execute(query).mappings():
        found[int(row["kpi_id"])].append(_point(row))
    return {kpi: _latest_window(points) for kpi, points in found.items()}


def _latest_window(points: list[MetricPoint]) -> list[MetricPoint]:
    last = max(point.slot for point in points)
    unique = {point.key: point for point in points if point.slot == last}
    return sorted(unique.values(), key=lambda point: point.key)


_POINT_COLUMNS = (
    historical_data.c.window_end,
    historical_data.c.metric_key,
    historical_data.c.value,
    historical_data.c.expected,
    historical_data.c.lower,
    historical_data.c.upper,
    historical_data.c.breach,
)


def _point(row: Any) -> MetricPoint:
    return MetricPoint(
        slot=row["window_end"],
        key=row["metric_key"],
        current=float(row["value"]),
        expected=row["expected"],
        lower=row["lower"],
        upper=row["upper"],
        breach=bool(row["breach"]),
    )


def kpi_history(
    connection: Connection, kpi_id: int, *, start: datetime, end: datetime, key: str | None, limit: int
) -> list[MetricPoint]:
    """The KPI's values with `start <= window_end < end`, oldest first (the history index's range)."""
    query = (
        select(*_POINT_COLUMNS)
        .where(
            historical_data.c.kpi_id == kpi_id,
            historical_data.c.window_end >= start,
            historical_data.c.window_end < end,
        )
        .order_by(historical_data.c.window_end, historical_data.c.metric_key)
        .limit(limit)
    )
    if key is not None:
        query = query.where(historical_data.c.metric_key == key)
    return [_point(row) for row in connection.execute(query).mappings()]


def kpi_exists(connection: Connection, kpi_id: int) -> bool:
    return connection.scalar(select(kpis.c.id).where(kpis.c.id == kpi_id)) is not None


_ALERT_COLUMNS = (
    alerts.c.id,
    alerts.c.kpi_id,
    kpis.c.indicator,
    alerts.c.metric_key,
    alerts.c.kind,
    alerts.c.status,
    alerts.c.severity,
    alerts.c.escalation_level,
    alerts.c.opened_at,
    alerts.c.last_triggered_at,
    alerts.c.last_notified_at,
    alerts.c.acknowledged_by,
    alerts.c.acknowledged_at,
    alerts.c.resolved_at,
    alerts.c.resolved_by,
    alerts.c.resolution_reason,
    alerts.c.current_value,
    alerts.c.baseline_value,
    alerts.c.deviation_percent,
    alerts.c.expected_value,
    alerts.c.lower_value,
    alerts.c.upper_value,
)


def alert_page(
    connection: Connection,
    *,
    status: AlertStatus | None,
    kpi_id: int | None,
    before_id: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Alerts newest first by id (a stable order for cursors), `limit` of them below `before_id`."""
    query = (
        select(*_ALERT_COLUMNS)
        .select_from(alerts.outerjoin(kpis, kpis.c.id == alerts.c.kpi_id))
        .order_by(alerts.c.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(alerts.c.status == status.value)
    if kpi_id is not None:
        query = query.where(alerts.c.kpi_id == kpi_id)
    if before_id is not None:
        query = query.where(alerts.c.id < before_id)
    return [dict(row) for row in connection.execute(query).mappings()]


def alert_row(connection: Connection, alert_id: int) -> dict[str, Any] | None:
    query = (
        select(*_ALERT_COLUMNS)
        .select_from(alerts.outerjoin(kpis, kpis.c.id == alerts.c.kpi_id))
        .where(alerts.c.id == alert_id)
    )
    row = connection.execute(query).mappings().first()
    return dict(row) if row is not None else None


def alert_timeline(connection: Connection, alert_id: int) -> list[dict[str, Any]]:
    """The alert's audit events, oldest first."""
    query = (
        select(
            alert_events.c.created_at, alert_events.c.event_type, alert_events.c.actor, alert_events.c.details
        )
        .where(alert_events.c.alert_id == alert_id)
        .order_by(alert_events.c.created_at, alert_events.c.id)
    )
    return [
        {"at": at, "type": kind, "actor": actor, "details": _details(details)}
        for at, kind, actor, details in connection.execute(query)
    ]


def alert_deliveries(connection: Connection, alert_id: int) -> list[dict[str, Any]]:
    """Every delivery of the alert's events: who, on which channel, how it went."""
    query = (
        select(
            contacts.c.name,
            notifications.c.channel,
            notifications.c.status,
            notifications.c.attempts,
            notifications.c.sent_at,
            notifications.c.last_error,
        )
        .select_from(
            notifications.join(alert_events, alert_events.c.id == notifications.c.event_id).join(
                contacts, contacts.c.id == notifications.c.contact_id
            )
        )
        .where(alert_events.c.alert_id == alert_id)
        .order_by(notifications.c.id)
    )
    return [
        {
            "contact": name,
            "channel": channel,
            "status": status,
            "attempts": attempts,
            "sent_at": sent,
            "error": e,
        }
        for name, channel, status, attempts, sent, e in connection.execute(query)
    ]


def contact_name(connection: Connection, contact_id: int) -> str | None:
    name = connection.scalar(select(contacts.c.name).where(contacts.c.id == contact_id))
    return str(name) if name is not None else None


def _details(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {"text": text}
    return value if isinstance(value, dict) else {"value": value}
