"""Reading KPI rows as domain values."""

from __future__ import annotations

import functools
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, Select, Update, bindparam, select, update

from shared.db.statements import in_list, in_params
from shared.db.tables import kpis
from shared.domain.kpi import (
    SEASONAL_TOLERANCE,
    Aggregate,
    AlertPolicy,
    Baseline,
    BaselineMode,
    Direction,
    Kpi,
    KpiKind,
    NoData,
    Priority,
    Rule,
    Schedule,
    Threshold,
    ThresholdOperator,
)


def kpi_from_row(row: RowMapping) -> Kpi:
    """The domain value of a `kpis` row."""
    return Kpi(
        id=row["id"],
        indicator=row["indicator"],
        owner=row["owner"],
        priority=Priority(row["priority"]),
        source=row["source"],
        kind=KpiKind(row["kind"]),
        sql_text=row["sql_text"],
        schedule=Schedule(
            frequency_minutes=row["frequency_minutes"],
            cron=row["schedule_cron"],
            timezone=row["schedule_timezone"] or "UTC",
        ),
        last_minutes=row["last_minutes"],
        rule=_rule(row),
        policy=AlertPolicy(
            fire_after=row["fire_after"],
            resolve_after=row["resolve_after"],
            cooldown_minutes=row["cooldown_minutes"],
            failure_alert_after=row["failure_alert_after"],
            no_data=NoData(row["no_data"]),
        ),
        subject_template=row["subject_template"],
        description_template=row["description_template"],
        is_active=bool(row["is_active"]),
    )


def _rule(row: RowMapping) -> Rule:
    operator = row["threshold_operator"]
    return Rule(
        deviation_percent=row["deviation_percent"],
        direction=Direction(row["direction"]),
        minimum_threshold=row["minimum_threshold"],
        threshold=None
        if operator is None
        else Threshold(operator=ThresholdOperator(operator), value=row["threshold_value"]),
        noise_floor=row["noise_floor"],
        baseline=Baseline(
            mode=BaselineMode(row["baseline_mode"]),
            weeks_back=row["baseline_weeks_back"],
            aggregate=Aggregate(row["baseline_aggregate"]),
            tolerance=row["baseline_tolerance"] or SEASONAL_TOLERANCE,
        ),
    )


def kpi_values(kpi: Kpi) -> dict[str, Any]:
    """The `kpis` columns that define `kpi` (not its scheduling state or timestamps)."""
    rule, threshold = kpi.rule, kpi.rule.threshold
    return {
        "indicator": kpi.indicator,
        "owner": kpi.owner,
        "priority": int(kpi.priority),
        "source": kpi.source,
        "kind": kpi.kind.value,
        "sql_text": kpi.sql_text,
        "frequency_minutes": kpi.schedule.frequency_minutes,
        "schedule_cron": kpi.schedule.cron,
        "schedule_timezone": kpi.schedule.timezone if kpi.schedule.cron else None,
        "last_minutes": kpi.last_minutes,
        "deviation_percent": rule.deviation_percent,
        "direction": rule.direction.value,
        "minimum_threshold": rule.minimum_threshold,
        "threshold_operator": threshold.operator.value if threshold else None,
        "threshold_value": threshold.value if threshold else None,
        "noise_floor": rule.noise_floor,
        "baseline_mode": rule.baseline.mode.value,
        "baseline_weeks_back": rule.baseline.weeks_back,
        "baseline_aggregate": rule.baseline.aggregate.value,
        "baseline_tolerance": rule.baseline.tolerance
        if rule.baseline.mode is BaselineMode.SEASONAL
        else None,
        "no_data": kpi.policy.no_data.value,
        "cooldown_minutes": kpi.policy.cooldown_minutes,
        "fire_after": kpi.policy.fire_after,
        "resolve_after": kpi.policy.resolve_after,
        "failure_alert_after": kpi.policy.failure_alert_after,
        "subject_template": kpi.subject_template,
        "description_template": kpi.description_template,
        "is_active": kpi.is_active,
    }


_LOAD = select(kpis).where(kpis.c.id == bindparam("p_id"))
_SUCCEEDED = (
    update(kpis)
    .where(kpis.c.id == bindparam("p_id"))
    .values(consecutive_failures=0, last_success_at=bindparam("p_now"))
)
_FAILED = (
    update(kpis)
    .where(kpis.c.id == bindparam("p_id"))
    .values(consecutive_failures=kpis.c.consecutive_failures + 1)
    .returning(kpis.c.consecutive_failures)
)


def load_kpi(connection: Connection, kpi_id: int) -> Kpi | None:
    """The KPI with `kpi_id`, or None when it does not exist (any more)."""
    row = connection.execute(_LOAD, {"p_id": kpi_id}).mappings().first()
    return None if row is None else kpi_from_row(row)


@functools.cache
def _load_many(count: int) -> Select[Any]:
    return select(kpis).where(in_list(kpis.c.id, count, "p_id"))


@functools.cache
def _succeeded_many(count: int) -> Update:
    return (
        update(kpis)
        .where(in_list(kpis.c.id, count, "p_id"))
        .values(consecutive_failures=0, last_success_at=bindparam("p_now"))
    )


@functools.cache
def _failed_many(count: int) -> Update:
    return (
        update(kpis)
        .where(in_list(kpis.c.id, count, "p_id"))
        .values(consecutive_failures=kpis.c.consecutive_failures + 1)
        .returning(kpis.c.id, kpis.c.consecutive_failures)
    )


def load_kpis(connection: Connection, kpi_ids: Collection[int]) -> dict[int, Kpi]:
    """The KPIs of `kpi_ids` that exist, in one statement."""
    if not kpi_ids:
        return {}
    ids = sorted(set(kpi_ids))
    rows = connection.execute(_load_many(len(ids)), in_params("p_id", ids)).mappings()
    return {row["id"]: kpi_from_row(row) for row in rows}


def count_outcomes(
    connection: Connection, *, succeeded: Collection[int], failed: Collection[int], now: datetime
) -> dict[int, int]:
    """`count_outcome` for distinct KPIs of a batch, one statement per kind of outcome: the failures in a row
    of each failed KPI (the succeeded ones are 0). The UPDATEs lock the KPIs' rows, like `count_outcome`."""
    counts = dict.fromkeys(succeeded, 0)
    if succeeded:
        ids = sorted(succeeded)
        connection.execute(_succeeded_many(len(ids)), {**in_params("p_id", ids), "p_now": now})
    if failed:
        ids = sorted(failed)
        rows = connection.execute(_failed_many(len(ids)), in_params("p_id", ids))
        counts.update({row.id: int(row.consecutive_failures) for row in rows})
    return counts


def count_outcome(connection: Connection, kpi_id: int, *, succeeded: bool, now: datetime) -> int:
    """Update the KPI's consecutive-failure counter (and last success); return the failures in a row,
    including this one. The UPDATE locks the KPI row, which serialises concurrent finishes of one KPI."""
    if succeeded:
        connection.execute(
            update(kpis).where(kpis.c.id == kpi_id).values(consecutive_failures=0, last_success_at=now)
        )
        return 0
    result = connection.execute(
        update(kpis)
        .where(kpis.c.id == kpi_id)
        .values(consecutive_failures=kpis.c.consecutive_failures + 1)
        .returning(kpis.c.consecutive_failures)
    )
    return int(result.scalar_one())
