"""Reading KPI rows as domain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, RowMapping, bindparam, case, or_, select, update

from shared.db.tables import kpis
from shared.db.types import UtcDateTime
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


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """What recording an execution's outcome found on its KPI."""

    failures: int  #: failures in a row, this one included (0 after a success)
    #: a newer slot of the KPI had already finished: the failure count and the "execution failing" alert
    #: are left as that slot left them
    newer_run: bool
    #: a newer slot's metrics had already been evaluated: this slot's metric alert transitions are skipped
    newer_evaluation: bool


_SLOT = bindparam("p_slot", type_=UtcDateTime())


def _later(column: ColumnElement[datetime]) -> ColumnElement[datetime]:
    """The later of the column and the execution's slot."""
    return case((or_(column.is_(None), column < _SLOT), _SLOT), else_=column)


_NEWER_RUN = kpis.c.last_run_slot > _SLOT
_RETURNED = (kpis.c.consecutive_failures, kpis.c.last_run_slot, kpis.c.last_evaluated_slot)
# One statement per outcome: every SET reads the row as it was, so a newer slot that already finished leaves
# the failure count alone; the row lock serialises concurrent finishes of the KPI.
_SUCCEEDED = (
    update(kpis)
    .where(kpis.c.id == bindparam("p_kpi"))
    .values(
        consecutive_failures=case((_NEWER_RUN, kpis.c.consecutive_failures), else_=0),
        last_success_at=bindparam("p_now", type_=UtcDateTime()),
        last_run_slot=_later(kpis.c.last_run_slot),
        last_evaluated_slot=_later(kpis.c.last_evaluated_slot),
    )
    .returning(*_RETURNED)
)
_FAILED = (
    update(kpis)
    .where(kpis.c.id == bindparam("p_kpi"))
    .values(
        consecutive_failures=case(
            (_NEWER_RUN, kpis.c.consecutive_failures), else_=kpis.c.consecutive_failures + 1
        ),
        last_run_slot=_later(kpis.c.last_run_slot),
    )
    .returning(*_RETURNED)
)


def record_outcome(
    connection: Connection, kpi_id: int, *, slot: datetime, succeeded: bool, now: datetime
) -> Outcome:
    """Count the outcome of the execution of `slot` on its KPI: the consecutive failures (unless a newer slot
    already finished) and the newest slots run and evaluated. Say whether a newer slot came first. The UPDATE
    locks the KPI row, which serialises concurrent finishes of one KPI."""
    if succeeded:
        returned = connection.execute(_SUCCEEDED, {"p_kpi": kpi_id, "p_slot": slot, "p_now": now})
    else:
        returned = connection.execute(_FAILED, {"p_kpi": kpi_id, "p_slot": slot})
    failures, last_run, last_evaluated = returned.one()
    return Outcome(
        failures=int(failures),
        newer_run=last_run is not None and last_run > slot,
        newer_evaluation=succeeded and last_evaluated is not None and last_evaluated > slot,
    )


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
