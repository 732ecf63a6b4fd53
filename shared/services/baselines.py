"""Reading the earlier values a KPI's baseline needs for a slot from our own history: one execution's, or
a batch's in one bounded query per group of KPIs that read the same instants."""

from __future__ import annotations

import functools
import typing
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection

from shared.db import history
from shared.domain.baseline import (
    BaselineData,
    Verdict,
    baseline_data,
    history_targets,
    history_tolerance,
    nearest_values,
    samples_of,
    seasonal_plan,
    verdicts_of,
)
from shared.domain.kpi import BaselineMode, Kpi
from shared.domain.seasonal import Sample


def read_baseline(connection: Connection, kpi: Kpi, slot: datetime) -> BaselineData:
    """The earlier values the KPI's baseline needs for `slot`, from our own history (none for `source`)."""
    return baseline_data(
        kpi,
        slot,
        near=lambda targets, tolerance: history.values_near(
            connection, kpi_id=kpi.id, targets=targets, tolerance=tolerance
        ),
        within=lambda ranges: history.samples_within(connection, kpi_id=kpi.id, ranges=ranges),
        recent=lambda start, end: history.verdicts_between(connection, kpi_id=kpi.id, start=start, end=end),
    )


def read_baselines(connection: Connection, items: Sequence[tuple[Kpi, datetime]]) -> list[BaselineData]:
    """`read_baseline` for the executions of a batch: KPIs that read the same instants (the same slot and
    rule, as a scheduled batch's usually do) share one bounded query."""
    if len(items) <= 1:
        return [read_baseline(connection, kpi, slot) for kpi, slot in items]
    groups: dict[tuple[object, ...], list[int]] = {}
    for index, (kpi, slot) in enumerate(items):
        mode = kpi.rule.baseline.mode
        if mode is BaselineMode.HISTORY:
            key: tuple[object, ...] = ("near", tuple(history_targets(kpi, slot)), history_tolerance(kpi))
        elif mode is BaselineMode.SEASONAL:
            plan = seasonal_plan(kpi, slot)
            key = ("within", plan.ranges, plan.recent)
        else:
            continue
        groups.setdefault(key, []).append(index)
    rows: dict[int, list[history.Stored]] = {}
    judged: dict[int, list[history.Judged]] = {}
    for key, indexes in groups.items():
        kpi_ids = [items[index][0].id for index in indexes]
        if key[0] == "near":
            targets, tolerance = typing.cast(tuple[tuple[datetime, ...], timedelta], key[1:])
            found = history.rows_near_many(connection, kpi_ids=kpi_ids, targets=targets, tolerance=tolerance)
        else:
            ranges = typing.cast(tuple[tuple[datetime, datetime], ...], key[1])
            found = history.rows_within_many(connection, kpi_ids=kpi_ids, ranges=ranges)
            recent = typing.cast(tuple[datetime, ...], key[2])
            if recent:  # the slots a run of slots ends with: one more bounded query for the group
                verdicts = history.verdict_rows_many(
                    connection, kpi_ids=kpi_ids, start=recent[-1], end=recent[0]
                )
                for index in indexes:
                    judged[index] = verdicts.get(items[index][0].id, [])
        for index in indexes:
            rows[index] = found.get(items[index][0].id, [])
    return [
        baseline_data(
            kpi,
            slot,
            near=functools.partial(_nearest, rows.get(index, [])),
            within=functools.partial(_samples, rows.get(index, [])),
            recent=functools.partial(_verdicts, judged.get(index, [])),
        )
        for index, (kpi, slot) in enumerate(items)
    ]


def _verdicts(rows: list[history.Judged], start: datetime, end: datetime) -> dict[str, list[Verdict]]:
    return verdicts_of(row for row in rows if start <= row[1] <= end)


def _nearest(
    rows: list[history.Stored], targets: Sequence[datetime], tolerance: timedelta
) -> dict[str, list[float]]:
    return nearest_values(rows, targets, tolerance)


def _samples(
    rows: list[history.Stored], _ranges: Sequence[tuple[datetime, datetime]]
) -> dict[str, list[Sample]]:
    return samples_of(rows)
