"""Reading KPI rows as domain values."""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    RowMapping,
    Select,
    Update,
    and_,
    bindparam,
    case,
    literal_column,
    or_,
    select,
    union_all,
    update,
)

from shared.db.statements import in_list, in_params
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


@functools.cache
def _load_many(count: int) -> Select[Any]:
    return select(kpis).where(in_list(kpis.c.id, count, "p_id"))


def load_kpis(connection: Connection, kpi_ids: Collection[int]) -> dict[int, Kpi]:
    """The KPIs of `kpi_ids` that exist, in one statement."""
    if not kpi_ids:
        return {}
    ids = sorted(set(kpi_ids))
    rows = connection.execute(_load_many(len(ids)), in_params("p_id", ids)).mappings()
    return {row["id"]: kpi_from_row(row) for row in rows}


@dataclass(frozen=True, kw_only=True, slots=True)
class Finished:
    """An execution's result as its KPI row counts it."""

    kpi_id: int
    slot: datetime
    succeeded: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """What recording an execution's outcome found on its KPI."""

    failures: int  #: failures in a row, this one included (0 after a success)
    #: a newer slot of the KPI had already finished: the failure count and the "execution failing" alert
    #: are left as that slot left them
    newer_run: bool
    #: a newer slot's metrics had already been evaluated: this slot's metric alert transitions are skipped
    newer_evaluation: bool


#: Constants written into the statement, not bound (psycopg caches statements of at most 50 parameters).
_ZERO, _ONE = literal_column("0", Integer()), literal_column("1", Integer())


@functools.cache
def _record_many(count: int, dialect: str) -> Update:
    """One UPDATE for `count` distinct KPIs, each row's own slot and result picked by its id, and every SET
    reading the row as it was, so a KPI whose newer slot already finished keeps its failure count. Built once
    per size and dialect, like the other batch statements.

    PostgreSQL and SQL Server join the rows (id, slot, result), a `SELECT` of parameters each, joined by
    `UNION ALL` (a `VALUES` list would be shorter, but SQLAlchemy compiles it anew on every execution): short
    whatever the size (psycopg parses a statement's text again on every execution when it is over 4 KB,
    which a CASE per column was from 8 KPIs on: about as much CPU as the rest of the group's recording).
    SQLite, where UPDATE ... FROM needs 3.33, picks them with a CASE on the id per column."""
    ids = [bindparam(f"p_id{i}", type_=Integer()) for i in range(count)]
    slots = [bindparam(f"p_slot{i}", type_=UtcDateTime()) for i in range(count)]
    results = [bindparam(f"p_ok{i}", type_=Integer()) for i in range(count)]
    if dialect == "sqlite":
        slot: ColumnElement[Any] = case(*((kpis.c.id == ids[i], slots[i]) for i in range(count)))
        ok = case(*((kpis.c.id == ids[i], results[i]) for i in range(count))) == _ONE
        return _record_update(kpis.c.id.in_(ids), slot, ok)
    rows = union_all(
        *(select(ids[i].label("id"), slots[i].label("slot"), results[i].label("ok")) for i in range(count))
    ).subquery("v")
    # The IN list as well as the join: it lets the planner find the KPIs by their key, not by a scan.
    return _record_update(and_(kpis.c.id.in_(ids), kpis.c.id == rows.c.id), rows.c.slot, rows.c.ok == _ONE)


def _record_update(which: ColumnElement[bool], slot: ColumnElement[Any], ok: ColumnElement[bool]) -> Update:
    failures, last_run, last_evaluated = (
        kpis.c.consecutive_failures,
        kpis.c.last_run_slot,
        kpis.c.last_evaluated_slot,
    )
    return (
        update(kpis)
        .where(which)
        .values(
            consecutive_failures=case((last_run > slot, failures), (ok, _ZERO), else_=failures + _ONE),
            last_success_at=case((ok, bindparam("p_now", type_=UtcDateTime())), else_=kpis.c.last_success_at),
            last_run_slot=case((or_(last_run.is_(None), last_run < slot), slot), else_=last_run),
            last_evaluated_slot=case(
                (and_(ok, or_(last_evaluated.is_(None), last_evaluated < slot)), slot), else_=last_evaluated
            ),
        )
        .returning(kpis.c.id, failures, last_run, last_evaluated)
    )


def record_outcomes(
    connection: Connection, finished: Sequence[Finished], *, now: datetime
) -> dict[int, Outcome]:
    """Count each execution's outcome on its KPI (distinct KPIs, one statement): the consecutive failures
    (unless a newer slot already finished) and the newest slots run and evaluated; say for each whether a
    newer slot came first. The UPDATE locks the KPIs' rows, which serialises concurrent finishes of a KPI."""
    if not finished:
        return {}
    ordered = sorted(finished, key=lambda each: each.kpi_id)
    params: dict[str, object] = {"p_now": now}
    for i, each in enumerate(ordered):
        params[f"p_id{i}"], params[f"p_slot{i}"], params[f"p_ok{i}"] = (
            each.kpi_id,
            each.slot,
            int(each.succeeded),
        )
    statement = _record_many(len(ordered), connection.dialect.name)
    rows = {row.id: row for row in connection.execute(statement, params)}
    outcomes: dict[int, Outcome] = {}
    for each in ordered:
        row = rows.get(each.kpi_id)
        if row is None:  # the KPI was deleted meanwhile: nothing newer, no failures
            outcomes[each.kpi_id] = Outcome(failures=0, newer_run=False, newer_evaluation=False)
            continue
        last_run, last_evaluated = row.last_run_slot, row.last_evaluated_slot
        outcomes[each.kpi_id] = Outcome(
            failures=int(row.consecutive_failures),
            newer_run=last_run is not None and last_run > each.slot,
            newer_evaluation=each.succeeded and last_evaluated is not None and last_evaluated > each.slot,
        )
    return outcomes


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
