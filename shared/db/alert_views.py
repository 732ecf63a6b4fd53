"""Read models of alerts for the management API: pages newest first by id, one alert, its audit timeline and
its deliveries; and the listing of `mgrid alerts list`, newest first by opening time. Reads only; each query
rides an index (alerts by id, events by (alert_id, created_at), deliveries by their unique (event_id,
contact_id, channel))."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from sqlalchemy import Connection, select

from shared.db.tables import alert_events, alerts, contacts, kpis, notifications
from shared.domain.alert import AlertKind, AlertStatus, AlertSummary, Severity

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

#: What `mgrid alerts list` shows of an alert: the columns of `_ALERT_COLUMNS` an `AlertSummary` holds.
_SUMMARY_COLUMNS = tuple(
    column for column in _ALERT_COLUMNS if column.name in {field.name for field in fields(AlertSummary)}
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


def recent_alerts(connection: Connection, *, status: AlertStatus | None, limit: int) -> list[AlertSummary]:
    """The newest alerts first by opening time (optionally of one status), with their KPI's indicator."""
    query = (
        select(*_SUMMARY_COLUMNS)
        .select_from(alerts.outerjoin(kpis, kpis.c.id == alerts.c.kpi_id))
        .order_by(alerts.c.opened_at.desc(), alerts.c.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(alerts.c.status == status.value)
    return [
        AlertSummary(
            id=row.id,
            indicator=row.indicator,
            metric_key=row.metric_key,
            kind=AlertKind(row.kind),
            status=AlertStatus(row.status),
            severity=Severity(row.severity),
            escalation_level=row.escalation_level,
            opened_at=row.opened_at,
            last_triggered_at=row.last_triggered_at,
            resolved_at=row.resolved_at,
            current_value=row.current_value,
            baseline_value=row.baseline_value,
            deviation_percent=row.deviation_percent,
        )
        for row in connection.execute(query)
    ]


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
