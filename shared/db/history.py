"""KPI history: one row per (execution, metric), and the values a history baseline is built from."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, delete, insert, or_, select

from shared.db.tables import historical_data


@dataclass(frozen=True, kw_only=True, slots=True)
class HistoryRow:
    metric_key: str
    value: float
    baseline_value: float | None
    deviation_percent: float | None
    breach: bool


def replace(
    connection: Connection,
    *,
    kpi_id: int,
    execution_id: uuid.UUID,
    window: tuple[datetime, datetime],
    rows: Sequence[HistoryRow],
    now: datetime,
) -> None:
    """Store the metrics of one execution, replacing what an earlier, interrupted attempt may have left."""
    connection.execute(delete(historical_data).where(historical_data.c.execution_id == execution_id))
    if not rows:
        return
    start, end = window
    connection.execute(
        insert(historical_data),
        [
            {
                "kpi_id": kpi_id,
                "execution_id": execution_id,
                "metric_key": row.metric_key,
                "window_start": start,
                "window_end": end,
                "value": row.value,
                "baseline_value": row.baseline_value,
                "deviation_percent": row.deviation_percent,
                "breach": row.breach,
                "recorded_at": now,
            }
            for row in rows
        ],
    )


def values_near(
    connection: Connection,
    *,
    kpi_id: int,
    keys: Sequence[str],
    targets: Sequence[datetime],
    tolerance: timedelta,
) -> dict[str, list[float]]:
    """For each metric key, the value recorded for the window ending closest to each target (within
    `tolerance`), one per target at most: the samples of a history baseline."""
    if not keys or not targets:
        return {}
    near = or_(*(historical_data.c.window_end.between(t - tolerance, t + tolerance) for t in targets))
    rows = connection.execute(
        select(historical_data.c.metric_key, historical_data.c.window_end, historical_data.c.value).where(
            and_(historical_data.c.kpi_id == kpi_id, historical_data.c.metric_key.in_(keys), near)
        )
    ).all()
    best: dict[tuple[str, datetime], tuple[timedelta, float]] = {}
    for row in rows:
        target = min(targets, key=lambda t: abs(row.window_end - t))
        distance = abs(row.window_end - target)
        current = best.get((row.metric_key, target))
        if current is None or distance < current[0]:
            best[(row.metric_key, target)] = (distance, row.value)
    samples: dict[str, list[float]] = {}
    for (key, _target), (_distance, value) in sorted(best.items(), key=lambda item: item[0][1], reverse=True):
        samples.setdefault(key, []).append(value)
    return samples
