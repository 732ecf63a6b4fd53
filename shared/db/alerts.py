"""Alert state: per-metric streaks, the unresolved alert of each (KPI, metric key), transitions and their
audit events with outbox entries.

Contract: callers run these inside one transaction together with the state change that caused them, after
locking the KPI row (see `shared.services.execution`), so the alert, its event and its outbox entry are
written together or not at all. The database allows at most one unresolved alert per (KPI, metric key).
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, bindparam, insert, select, update

from shared.db.scheduling import skip_locked
from shared.db.statements import in_list, in_params, inserted_id
from shared.db.tables import alert_events, alerts, kpis, metric_states, outbox
from shared.domain.alert import UNRESOLVED, AlertEventType, AlertKind, AlertStatus, EventRef, Severity
from shared.domain.alerting import OpenAlert, Streak


@dataclass(frozen=True, kw_only=True, slots=True)
class AlertValues:
    """The values an alert shows: the latest current value, baseline and deviation, and the band."""

    current: float | None = None
    baseline: float | None = None
    deviation_percent: float | None = None
    expected: float | None = None
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class StreakChange:
    """A metric's new streak after an evaluation."""

    metric_key: str
    streak: Streak
    breach: bool


_STREAKS = select(
    metric_states.c.metric_key, metric_states.c.consecutive_breaches, metric_states.c.consecutive_clean
).where(metric_states.c.kpi_id == bindparam("p_kpi"))
_UNRESOLVED = select(
    alerts.c.id,
    alerts.c.metric_key,
    alerts.c.status,
    alerts.c.opened_at,
    alerts.c.last_triggered_at,
    alerts.c.last_notified_at,
    alerts.c.stale_at,
).where(alerts.c.kpi_id == bindparam("p_kpi"), alerts.c.status.in_([status.value for status in UNRESOLVED]))
_MARK_EVALUATED = (
    update(alerts)
    .where(alerts.c.id.in_(bindparam("p_ids", expanding=True)))
    .values(stale_at=bindparam("p_stale_at"))
)
_STREAK_VALUES: dict[str, Any] = {
    "consecutive_breaches": bindparam("p_breaches"),
    "consecutive_clean": bindparam("p_clean"),
    "last_evaluated_at": bindparam("p_now"),
}
_STREAK_KEY = (metric_states.c.kpi_id == bindparam("p_kpi"), metric_states.c.metric_key == bindparam("p_key"))
_UPDATE_CLEAN = update(metric_states).where(*_STREAK_KEY).values(_STREAK_VALUES)
_UPDATE_BREACH = (
    update(metric_states).where(*_STREAK_KEY).values({**_STREAK_VALUES, "last_breach_at": bindparam("p_now")})
)
_INSERT_STREAK = insert(metric_states).values(
    kpi_id=bindparam("p_kpi"),
    metric_key=bindparam("p_key"),
    last_breach_at=bindparam("p_breach_at"),
    **_STREAK_VALUES,
)


def streaks(connection: Connection, kpi_id: int) -> dict[str, Streak]:
    """The consecutive breach / clean counts of each metric of the KPI."""
    rows = connection.execute(_STREAKS, {"p_kpi": kpi_id})
    return {key: Streak(breaches=breaches, clean=clean) for key, breaches, clean in rows}


def save_streaks(
    connection: Connection,
    *,
    kpi_id: int,
    changes: Sequence[StreakChange],
    stored: Collection[str],
    now: datetime,
) -> None:
    """Store the metrics' new streaks: update those in `stored`, insert the others. One statement per kind of
    change. The caller holds the KPI's row lock, so no other transaction inserts the same keys meanwhile."""
    rows: dict[tuple[bool, bool], list[dict[str, Any]]] = {}
    for change in changes:
        rows.setdefault((change.metric_key in stored, change.breach), []).append(
            {
                "p_kpi": kpi_id,
                "p_key": change.metric_key,
                "p_breaches": change.streak.breaches,
                "p_clean": change.streak.clean,
                "p_now": now,
                "p_breach_at": now if change.breach else None,
            }
        )
    for (exists, breach), params in rows.items():
        statement = (_UPDATE_BREACH if breach else _UPDATE_CLEAN) if exists else _INSERT_STREAK
        connection.execute(statement, params)


def unresolved(connection: Connection, kpi_id: int) -> dict[str, OpenAlert]:
    """The unresolved alert of each metric key of the KPI (including its execution-failure alert)."""
    return {
        row.metric_key: OpenAlert(
            id=row.id,
            status=AlertStatus(row.status),
            opened_at=row.opened_at,
            last_triggered_at=row.last_triggered_at,
            last_notified_at=row.last_notified_at,
            stale_at=row.stale_at,
        )
        for row in connection.execute(_UNRESOLVED, {"p_kpi": kpi_id})
    }


@functools.cache
def _unresolved_many(count: int) -> Select[Any]:
    return select(
        alerts.c.kpi_id,
        alerts.c.id,
        alerts.c.metric_key,
        alerts.c.status,
        alerts.c.opened_at,
        alerts.c.last_triggered_at,
        alerts.c.last_notified_at,
        alerts.c.stale_at,
    ).where(
        in_list(alerts.c.kpi_id, count, "p_kpi"),
        alerts.c.status.in_([status.value for status in UNRESOLVED]),
    )


def unresolved_many(connection: Connection, kpi_ids: Collection[int]) -> dict[int, dict[str, OpenAlert]]:
    """`unresolved` for the KPIs of a batch, in one statement: per KPI (every one of `kpi_ids`, with or
    without alerts), the unresolved alert of each metric key."""
    found: dict[int, dict[str, OpenAlert]] = {kpi_id: {} for kpi_id in kpi_ids}
    if not kpi_ids:
        return found
    ids = sorted(set(kpi_ids))
    for row in connection.execute(_unresolved_many(len(ids)), in_params("p_kpi", ids)):
        found.setdefault(row.kpi_id, {})[row.metric_key] = OpenAlert(
            id=row.id,
            status=AlertStatus(row.status),
            opened_at=row.opened_at,
            last_triggered_at=row.last_triggered_at,
            last_notified_at=row.last_notified_at,
            stale_at=row.stale_at,
        )
    return found


def open_alert(
    connection: Connection,
    *,
    kpi_id: int | None,
    metric_key: str,
    kind: AlertKind,
    severity: Severity,
    values: AlertValues,
    now: datetime,
    next_escalation_at: datetime | None,
    stale_at: datetime | None = None,
) -> int:
    """Insert a new open alert; the unique index refuses a second unresolved one for the same key.
    `stale_at`: when its key counts as no longer evaluated (None: never resolved by timeout)."""
    result = connection.execute(
        insert(alerts).values(
            kpi_id=kpi_id,
            metric_key=metric_key,
            kind=kind.value,
            status=AlertStatus.OPEN.value,
            severity=severity.value,
            opened_at=now,
            last_triggered_at=now,
            last_notified_at=now,
            next_escalation_at=next_escalation_at,
            stale_at=stale_at,
            **_value_columns(values),
        )
    )
    return inserted_id(result)


def retrigger(
    connection: Connection,
    alert_id: int,
    *,
    values: AlertValues,
    now: datetime,
    notified: bool,
    stale_at: datetime | None = None,
) -> None:
    """A new breach of an unresolved alert: refresh its values, trigger time and `stale_at` (when given),
    and its notification time when `notified`."""
    changes: dict[str, Any] = {"last_triggered_at": now, **_value_columns(values)}
    if notified:
        changes["last_notified_at"] = now
    if stale_at is not None:
        changes["stale_at"] = stale_at
    connection.execute(update(alerts).where(alerts.c.id == alert_id).values(changes))


def mark_evaluated(connection: Connection, alert_ids: Collection[int], *, stale_at: datetime) -> None:
    """The KPI evaluated these alerts' keys without changing them (a clean value that does not resolve yet):
    move their `stale_at`, in one statement."""
    if alert_ids:
        connection.execute(_MARK_EVALUATED, {"p_ids": sorted(alert_ids), "p_stale_at": stale_at})


def resolve(connection: Connection, alert_id: int, *, now: datetime, by: str, reason: str) -> bool:
    """Resolve the alert if it is still unresolved; False when it already was."""
    done = connection.execute(
        update(alerts)
        .where(alerts.c.id == alert_id, alerts.c.status.in_([status.value for status in UNRESOLVED]))
        .values(
            status=AlertStatus.RESOLVED.value,
            resolved_at=now,
            resolved_by=by,
            resolution_reason=reason[:500],
            next_escalation_at=None,
        )
    )
    return done.rowcount == 1


def record_event(
    connection: Connection,
    *,
    alert_id: int,
    event_type: AlertEventType,
    actor: str,
    now: datetime,
    details: dict[str, Any],
    execution_id: uuid.UUID | None = None,
    dispatch: bool = False,
) -> EventRef | None:
    """Append an audit event to the alert; with `dispatch`, also an outbox entry, and return its reference."""
    level = connection.scalar(select(alerts.c.escalation_level).where(alerts.c.id == alert_id)) or 0
    event_id = inserted_id(
        connection.execute(
            insert(alert_events).values(
                alert_id=alert_id,
                event_type=event_type.value,
                escalation_level=level,
                actor=actor,
                execution_id=execution_id,
                details=json.dumps(details, default=str),
                created_at=now,
            )
        )
    )
    if not dispatch:
        return None
    connection.execute(insert(outbox).values(event_id=event_id, created_at=now))
    return EventRef(event_id=event_id, alert_id=alert_id)


def _value_columns(values: AlertValues) -> dict[str, float | None]:
    return {
        "current_value": values.current,
        "baseline_value": values.baseline,
        "deviation_percent": values.deviation_percent,
        "expected_value": values.expected,
        "lower_value": values.lower,
        "upper_value": values.upper,
    }


def acknowledge(connection: Connection, alert_id: int, *, by: str, now: datetime) -> bool:
    """Acknowledge the alert if it is open, which stops its escalation; False otherwise."""
    done = connection.execute(
        update(alerts)
        .where(alerts.c.id == alert_id, alerts.c.status == AlertStatus.OPEN.value)
        .values(
            status=AlertStatus.ACKNOWLEDGED.value,
            acknowledged_by=by,
            acknowledged_at=now,
            next_escalation_at=None,
        )
    )
    return done.rowcount == 1


def get_alert(connection: Connection, alert_id: int) -> dict[str, Any] | None:
    """The alert's row with its KPI's indicator, or None."""
    query = (
        select(alerts, kpis.c.indicator)
        .select_from(alerts.outerjoin(kpis, kpis.c.id == alerts.c.kpi_id))
        .where(alerts.c.id == alert_id)
    )
    row = connection.execute(query).mappings().first()
    return dict(row) if row is not None else None


@dataclass(frozen=True, kw_only=True, slots=True)
class DueAlert:
    """An alert a processor step selected: due to escalate or to resolve by timeout."""

    id: int
    kpi_id: int | None
    metric_key: str
    escalation_level: int


def due_escalations(connection: Connection, *, now: datetime, limit: int) -> list[DueAlert]:
    """Open alerts whose next escalation time has come, locked for this transaction (others skip them)."""
    query = (
        select(alerts.c.id, alerts.c.kpi_id, alerts.c.metric_key, alerts.c.escalation_level)
        .where(alerts.c.next_escalation_at <= now, alerts.c.status == AlertStatus.OPEN.value)
        .order_by(alerts.c.next_escalation_at, alerts.c.id)
        .limit(limit)
    )
    return _due(connection, query)


def stale_alerts(connection: Connection, *, stale_before: datetime, limit: int) -> list[DueAlert]:
    """Unresolved KPI alerts whose key went unevaluated (`stale_at`) at or before `stale_before`, locked for
    this transaction; an alert without `stale_at` is never selected."""
    query = (
        select(alerts.c.id, alerts.c.kpi_id, alerts.c.metric_key, alerts.c.escalation_level)
        .where(
            alerts.c.stale_at <= stale_before,
            alerts.c.status.in_([status.value for status in UNRESOLVED]),
            alerts.c.kind != AlertKind.SYSTEM.value,
        )
        .order_by(alerts.c.stale_at, alerts.c.id)
        .limit(limit)
    )
    return _due(connection, query)


def _due(connection: Connection, query: Select[Any]) -> list[DueAlert]:
    return [DueAlert(**row) for row in connection.execute(skip_locked(query, alerts)).mappings()]


def escalate(
    connection: Connection, alert: DueAlert, *, to_level: int | None, next_at: datetime | None
) -> bool:
    """Move the alert from its level to `to_level` (None: no higher level, escalation ends there), if it is
    still open at the level it was selected at."""
    changes: dict[str, Any] = {"next_escalation_at": next_at if to_level is not None else None}
    if to_level is not None:
        changes["escalation_level"] = to_level
    done = connection.execute(
        update(alerts)
        .where(
            alerts.c.id == alert.id,
            alerts.c.status == AlertStatus.OPEN.value,
            alerts.c.escalation_level == alert.escalation_level,
        )
        .values(changes)
    )
    return done.rowcount == 1
