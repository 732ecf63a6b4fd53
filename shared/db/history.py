"""KPI history: one row per (execution, metric), and the values history and seasonal baselines are built
from."""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Connection,
    Insert,
    Select,
    bindparam,
    cast,
    false,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY

from shared.db.statements import in_list, in_params
from shared.db.tables import historical_data
from shared.db.types import finite_or_none
from shared.domain.baseline import Verdict, nearest_values, samples_of, verdicts_of
from shared.domain.evaluation import Evaluation
from shared.domain.seasonal import Sample


@dataclass(frozen=True, kw_only=True, slots=True)
class HistoryRow:
    metric_key: str
    value: float
    baseline_value: float | None
    deviation_percent: float | None
    breach: bool
    expected: float | None = None
    lower: float | None = None
    upper: float | None = None


_INSERT = insert(historical_data)
_COLUMNS = (
    "kpi_id",
    "execution_id",
    "metric_key",
    "window_start",
    "window_end",
    "value",
    "baseline_value",
    "deviation_percent",
    "breach",
    "expected",
    "lower",
    "upper",
    "recorded_at",
)


@functools.cache
def _insert_arrays() -> Insert:
    """PostgreSQL: the rows of a group as one INSERT of one array per column (`unnest` zips them), a short
    statement of 13 parameters whatever the number of rows; psycopg's executemany would send one INSERT
    per row, each run by the server on its own."""
    columns = [historical_data.c[name] for name in _COLUMNS]
    arrays = [
        func.unnest(cast(bindparam(f"p_{column.name}"), ARRAY(column.type))).label(column.name)
        for column in columns
    ]
    return insert(historical_data).from_select(columns, select(*arrays))


@dataclass(frozen=True, kw_only=True, slots=True)
class Recording:
    """The history rows of one execution, for `record_many`."""

    kpi_id: int
    execution_id: uuid.UUID
    window: tuple[datetime, datetime]
    rows: Sequence[HistoryRow]


def record_many(connection: Connection, recordings: Sequence[Recording], *, now: datetime) -> None:
    """`record` for the executions of a batch, in one statement (on PostgreSQL; elsewhere one INSERT run with
    the rows as its parameter sets)."""
    params = [
        _row(each.kpi_id, each.execution_id, each.window, row, now)
        for each in recordings
        for row in each.rows
    ]
    if len(params) > 1 and connection.dialect.name == "postgresql":
        connection.execute(
            _insert_arrays(), {f"p_{name}": [row[name] for row in params] for name in _COLUMNS}
        )
    elif params:
        connection.execute(_INSERT, params)


def _row(
    kpi_id: int, execution_id: uuid.UUID, window: tuple[datetime, datetime], row: HistoryRow, now: datetime
) -> dict[str, object]:
    return {
        "kpi_id": kpi_id,
        "execution_id": execution_id,
        "metric_key": row.metric_key,
        "window_start": window[0],
        "window_end": window[1],
        "value": row.value,
        "baseline_value": row.baseline_value,
        "deviation_percent": row.deviation_percent,
        "breach": row.breach,
        "expected": row.expected,
        "lower": row.lower,
        "upper": row.upper,
        "recorded_at": now,
    }


def record(
    connection: Connection,
    *,
    kpi_id: int,
    execution_id: uuid.UUID,
    window: tuple[datetime, datetime],
    rows: Sequence[HistoryRow],
    now: datetime,
) -> None:
    """Store the metrics of one execution. They are written in the same transaction that finishes the
    execution under its lease, so an interrupted attempt leaves nothing behind and a retry never collides
    (the unique key on (execution, metric) would refuse it anyway)."""
    if not rows:
        return
    start, end = window
    connection.execute(
        _INSERT,
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
                "expected": row.expected,
                "lower": row.lower,
                "upper": row.upper,
                "recorded_at": now,
            }
            for row in rows
        ],
    )


@functools.cache
def _near(targets: int) -> Select[tuple[str, datetime, float]]:
    """History rows of one KPI whose window ended within a tolerance of any of `targets` instants."""
    windows = [
        historical_data.c.window_end.between(bindparam(f"p_low{i}"), bindparam(f"p_high{i}"))
        for i in range(targets)
    ]
    return select(historical_data.c.metric_key, historical_data.c.window_end, historical_data.c.value).where(
        historical_data.c.kpi_id == bindparam("p_kpi"), or_(*windows)
    )


def values_near(
    connection: Connection, *, kpi_id: int, targets: Sequence[datetime], tolerance: timedelta
) -> dict[str, list[float]]:
    """For each metric key of the KPI, the value recorded for the window ending closest to each target
    (within `tolerance`), one per target at most, newest target first: the samples of a history baseline."""
    if not targets:
        return {}
    params: dict[str, object] = {"p_kpi": kpi_id}
    for i, target in enumerate(targets):
        params[f"p_low{i}"], params[f"p_high{i}"] = target - tolerance, target + tolerance
    rows = connection.execute(_near(len(targets)), params)
    return nearest_values(((r.metric_key, r.window_end, r.value) for r in rows), targets, tolerance)


@functools.cache
def _within(ranges: int) -> Select[tuple[str, datetime, float]]:
    """Non-breaching history rows of one KPI whose window ended inside any of `ranges` time ranges."""
    windows = [
        historical_data.c.window_end.between(bindparam(f"p_from{i}"), bindparam(f"p_to{i}"))
        for i in range(ranges)
    ]
    return select(historical_data.c.metric_key, historical_data.c.window_end, historical_data.c.value).where(
        historical_data.c.kpi_id == bindparam("p_kpi"), historical_data.c.breach == false(), or_(*windows)
    )


def samples_within(
    connection: Connection, *, kpi_id: int, ranges: Sequence[tuple[datetime, datetime]]
) -> dict[str, list[Sample]]:
    """For each metric key of the KPI, its non-breaching values whose window ended inside `ranges` (the
    same slot and its neighbours in earlier weeks: what a seasonal baseline reads), each instant once."""
    if not ranges:
        return {}
    params: dict[str, object] = {"p_kpi": kpi_id}
    for i, (start, end) in enumerate(ranges):
        params[f"p_from{i}"], params[f"p_to{i}"] = start, end
    rows = connection.execute(_within(len(ranges)), params)
    return samples_of((r.metric_key, r.window_end, r.value) for r in rows)


@functools.cache
def _verdicts() -> Select[tuple[str, datetime, float, bool]]:
    """History rows of one KPI whose window ended inside one time range, with their verdicts."""
    return select(
        historical_data.c.metric_key,
        historical_data.c.window_end,
        historical_data.c.value,
        historical_data.c.breach,
    ).where(
        historical_data.c.kpi_id == bindparam("p_kpi"),
        historical_data.c.window_end.between(bindparam("p_from"), bindparam("p_to")),
    )


def verdicts_between(
    connection: Connection, *, kpi_id: int, start: datetime, end: datetime
) -> dict[str, list[Verdict]]:
    """For each metric key of the KPI, the values whose window ended in `[start, end]` with their verdicts
    (the slots just before the one being judged: what a seasonal run of slots reads), each instant once."""
    rows = connection.execute(_verdicts(), {"p_kpi": kpi_id, "p_from": start, "p_to": end})
    return verdicts_of((r.metric_key, r.window_end, r.value, r.breach) for r in rows)


_STORED_MANY = (
    historical_data.c.kpi_id,
    historical_data.c.metric_key,
    historical_data.c.window_end,
    historical_data.c.value,
)


def _windows(count: int) -> ColumnElement[bool]:
    """`window_end` inside any of `count` ranges `[:p_from<i>, :p_to<i>]`."""
    return or_(
        *(
            historical_data.c.window_end.between(bindparam(f"p_from{i}"), bindparam(f"p_to{i}"))
            for i in range(count)
        )
    )


@functools.cache
def _near_many(targets: int, kpis: int) -> Select[tuple[int, str, datetime, float]]:
    """`_near` for `kpis` KPIs at once."""
    return select(*_STORED_MANY).where(in_list(historical_data.c.kpi_id, kpis, "p_kpi"), _windows(targets))


@functools.cache
def _within_many(ranges: int, kpis: int) -> Select[tuple[int, str, datetime, float]]:
    """`_within` for `kpis` KPIs at once."""
    return select(*_STORED_MANY).where(
        in_list(historical_data.c.kpi_id, kpis, "p_kpi"),
        historical_data.c.breach == false(),
        _windows(ranges),
    )


Stored = tuple[str, datetime, float]  #: metric key, window end, value


def rows_near_many(
    connection: Connection, *, kpi_ids: Sequence[int], targets: Sequence[datetime], tolerance: timedelta
) -> dict[int, list[Stored]]:
    """The rows `values_near` reads, for KPIs that share their targets (one batch's slot), in one query:
    bounded like it (rows within `tolerance` of `weeks_back` instants per KPI)."""
    ranges = [(target - tolerance, target + tolerance) for target in targets]
    return _stored_many(connection, _near_many, kpi_ids, ranges)


def rows_within_many(
    connection: Connection, *, kpi_ids: Sequence[int], ranges: Sequence[tuple[datetime, datetime]]
) -> dict[int, list[Stored]]:
    """The rows `samples_within` reads, for KPIs that share their ranges, in one query (bounded like it)."""
    return _stored_many(connection, _within_many, kpi_ids, ranges)


def _stored_many(
    connection: Connection,
    statement: Callable[[int, int], Select[tuple[int, str, datetime, float]]],
    kpi_ids: Sequence[int],
    ranges: Sequence[tuple[datetime, datetime]],
) -> dict[int, list[Stored]]:
    """Run `statement(len(ranges), len(kpis))` for the KPIs and ranges; the rows per KPI."""
    if not ranges or not kpi_ids:
        return {}
    ids = sorted(set(kpi_ids))
    params: dict[str, object] = in_params("p_kpi", ids)
    for i, (start, end) in enumerate(ranges):
        params[f"p_from{i}"], params[f"p_to{i}"] = start, end
    found: dict[int, list[Stored]] = {}
    for r in connection.execute(statement(len(ranges), len(ids)), params):
        found.setdefault(r.kpi_id, []).append((r.metric_key, r.window_end, r.value))
    return found


@functools.cache
def _verdicts_many(kpis: int) -> Select[tuple[int, str, datetime, float, bool]]:
    """`_verdicts` for `kpis` KPIs at once."""
    return select(
        historical_data.c.kpi_id,
        historical_data.c.metric_key,
        historical_data.c.window_end,
        historical_data.c.value,
        historical_data.c.breach,
    ).where(
        in_list(historical_data.c.kpi_id, kpis, "p_kpi"),
        historical_data.c.window_end.between(bindparam("p_from"), bindparam("p_to")),
    )


Judged = tuple[str, datetime, float, bool]  #: metric key, window end, value, breach


def verdict_rows_many(
    connection: Connection, *, kpi_ids: Sequence[int], start: datetime, end: datetime
) -> dict[int, list[Judged]]:
    """The rows `verdicts_between` reads, for KPIs that share the range (one batch's slot), in one query."""
    if not kpi_ids:
        return {}
    ids = sorted(set(kpi_ids))
    params: dict[str, object] = {**in_params("p_kpi", ids), "p_from": start, "p_to": end}
    found: dict[int, list[Judged]] = {}
    for r in connection.execute(_verdicts_many(len(ids)), params):
        found.setdefault(r.kpi_id, []).append((r.metric_key, r.window_end, r.value, r.breach))
    return found


def rows_of(evaluations: Sequence[Evaluation]) -> list[HistoryRow]:
    """The history rows of one execution's evaluations: every finite value, with its verdict and band."""
    return [
        HistoryRow(
            metric_key=e.key,
            value=e.current,
            baseline_value=e.baseline,
            deviation_percent=finite_or_none(e.deviation_percent),
            breach=e.breach,
            expected=e.expected,
            lower=e.lower,
            upper=e.upper,
        )
        for e in evaluations
        if math.isfinite(e.current)
    ]
