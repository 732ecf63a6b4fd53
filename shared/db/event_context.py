"""What an alert event needs to be told: the event with its alert and KPI, and the values its notice shows."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, RowMapping, select

from shared.db.tables import alert_events, alerts, kpis
from shared.domain.alert import AlertEventType, AlertKind, AlertStatus, Severity
from shared.domain.alert_text import AlertFacts, EventFacts
from shared.domain.delivery import EventContext, notice_priority
from shared.domain.kpi import Priority, Threshold, ThresholdOperator

_EVENT = select(
    alert_events.c.id,
    alert_events.c.alert_id,
    alert_events.c.event_type,
    alert_events.c.escalation_level,
    alert_events.c.details,
    alert_events.c.created_at,
    alerts.c.kpi_id,
    alerts.c.metric_key,
    alerts.c.kind,
    alerts.c.status,
    alerts.c.severity,
    alerts.c.current_value,
    alerts.c.baseline_value,
    alerts.c.deviation_percent,
    kpis.c.indicator,
    kpis.c.owner,
    kpis.c.priority,
    kpis.c.subject_template,
    kpis.c.description_template,
    kpis.c.threshold_operator,
    kpis.c.threshold_value,
    kpis.c.minimum_threshold,
).select_from(alert_events.join(alerts, alerts.c.id == alert_events.c.alert_id).outerjoin(kpis))


_MEASURED = (AlertEventType.OPENED.value, AlertEventType.RETRIGGERED.value)


def load(connection: Connection, event_id: int) -> EventContext | None:
    """The event with what its notice shows, or None when it does not exist (any more)."""
    row = connection.execute(_EVENT.where(alert_events.c.id == event_id)).mappings().first()
    if row is None:
        return None
    details = _details(row["details"])
    if AlertEventType(row["event_type"]).value not in _MEASURED and "window_end" not in details:
        details = {**_values_of(row), **_last_measured(connection, row["alert_id"]), **details}
    kind = AlertKind(row["kind"])
    severity = Severity(row["severity"])
    return EventContext(
        event_id=row["id"],
        alert_id=row["alert_id"],
        kpi_id=row["kpi_id"],
        alert_status=AlertStatus(row["status"]),
        priority=notice_priority(
            Priority(row["priority"]) if row["priority"] is not None else None, severity
        ),
        alert=_alert_facts(row, kind, severity),
        event=EventFacts(
            event_type=AlertEventType(row["event_type"]),
            escalation_level=row["escalation_level"],
            occurred_at=row["created_at"],
            details=details,
        ),
    )


def _alert_facts(row: RowMapping, kind: AlertKind, severity: Severity) -> AlertFacts:
    if row["indicator"] is None:
        return AlertFacts(kind=kind, severity=severity, metric_key=row["metric_key"])
    operator = row["threshold_operator"]
    return AlertFacts(
        kind=kind,
        severity=severity,
        metric_key=row["metric_key"],
        indicator=row["indicator"],
        owner=row["owner"],
        subject_template=row["subject_template"],
        description_template=row["description_template"],
        threshold=Threshold(operator=ThresholdOperator(operator), value=row["threshold_value"])
        if operator is not None
        else None,
        minimum_threshold=row["minimum_threshold"],
    )


def _values_of(row: RowMapping) -> dict[str, Any]:
    return {
        "current": row["current_value"],
        "baseline": row["baseline_value"],
        "deviation_percent": row["deviation_percent"],
    }


def _last_measured(connection: Connection, alert_id: int) -> dict[str, Any]:
    """The window of the alert's latest measured event (its values come from the alert row)."""
    details = connection.scalar(
        select(alert_events.c.details)
        .where(alert_events.c.alert_id == alert_id, alert_events.c.event_type.in_(_MEASURED))
        .order_by(alert_events.c.created_at.desc(), alert_events.c.id.desc())
        .limit(1)
    )
    measured = _details(details)
    return {key: measured[key] for key in ("window_start", "window_end") if key in measured}


def _details(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _priority(value: int | None) -> Priority | None:
    return Priority(value) if value is not None else None
