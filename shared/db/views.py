"""Read models of KPIs for the management API: summaries with their latest metrics, and history ranges.
Reads only; every query rides an index (see each function). Alerts: `shared.db.alert_views`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select

from shared.db.tables import (
    alerts,
    historical_data,
    kpi_executions,
    kpis,
    metric_states,
)
from shared.domain.alert import UNRESOLVED

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
    last_metric_count: int | None  #: metrics the latest execution returned (None until it finished)
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
            last_metric_count=row["metric_count"],
            open_alerts=opened.get(int(row["id"]), 0),
            metrics=tuple(latest.get(int(row["id"]), ())),
        )
        for row in rows
    ]


_SUMMARY_COLUMNS = (
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
    kpi_executions.c.metric_count,
)


def _summary_query(kpi_id: int | None) -> Any:
    # The latest slot per KPI is one probe of the unique (kpi_id, slot) index.
    inner = kpi_executions.alias("inner_executions")
    latest_slot = (
        select(func.max(inner.c.slot)).where(inner.c.kpi_id == kpis.c.id).correlate(kpis).scalar_subquery()
    )
    latest = and_(kpi_executions.c.kpi_id == kpis.c.id, kpi_executions.c.slot == latest_slot)
    query = (
        select(*_SUMMARY_COLUMNS)
        .select_from(kpis.outerjoin(kpi_executions, latest))
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
    """Each KPI's metrics of its latest window; keys missing from the KPI's latest window are dropped."""
    query = _latest_rows()
    if kpi_id is not None:
        query = query.where(metric_states.c.kpi_id == kpi_id)
    found: defaultdict[int, list[MetricPoint]] = defaultdict(list)
    for row in connection.execute(query).mappings():
        found[int(row["kpi_id"])].append(_point(row))
    return {kpi: _latest_window(points) for kpi, points in found.items()}


def _latest_rows() -> Any:
    """Per (kpi, key) of `metric_states`, its newest history row: one backward probe of the
    (kpi_id, metric_key, window_end) history index each, never a scan of the history."""
    inner = historical_data.alias("newest")
    newest = (
        select(func.max(inner.c.window_end))
        .where(inner.c.kpi_id == metric_states.c.kpi_id, inner.c.metric_key == metric_states.c.metric_key)
        .correlate(metric_states)
        .scalar_subquery()
    )
    on_newest = and_(
        historical_data.c.kpi_id == metric_states.c.kpi_id,
        historical_data.c.metric_key == metric_states.c.metric_key,
        historical_data.c.window_end == newest,
    )
    return select(*_POINT_COLUMNS, historical_data.c.kpi_id).select_from(
        metric_states.join(historical_data, on_newest)
    )


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
