"""Backfilled executions: the slots of a KPI that already have a run or values, and recording a past slot's
run as the executor records one (an execution row, then its history rows under it)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, select, union

from shared.db import history
from shared.db.tables import historical_data, kpi_executions
from shared.domain.evaluation import Evaluation
from shared.domain.execution import ExecutionStatus, ExecutionTrigger
from shared.domain.kpi import Kpi
from shared.domain.schedule import window

_FILLED = union(
    select(kpi_executions.c.slot.label("slot")).where(
        kpi_executions.c.kpi_id == bindparam("p_kpi"),
        kpi_executions.c.slot.between(bindparam("p_from"), bindparam("p_to")),
    ),
    select(historical_data.c.window_end.label("slot")).where(
        historical_data.c.kpi_id == bindparam("p_kpi"),
        historical_data.c.window_end.between(bindparam("p_from"), bindparam("p_to")),
    ),
)


def filled_slots(connection: Connection, *, kpi_id: int, start: datetime, end: datetime) -> set[datetime]:
    """The slots in `[start, end]` the KPI already has an execution (of any outcome) or values for: a
    backfill leaves them as they are."""
    return set(connection.scalars(_FILLED, {"p_kpi": kpi_id, "p_from": start, "p_to": end}))


def record_slot(
    connection: Connection,
    *,
    kpi: Kpi,
    slot: datetime,
    now: datetime,
    duration_ms: int,
    evaluations: Sequence[Evaluation],
) -> uuid.UUID:
    """A succeeded manual execution of a past `slot` with its history rows. It is recorded as started and
    finished at its slot, so backfilled runs never count as recent executions (health, metrics) and age out
    with the slot; `created_at` says when it was really written."""
    execution_id = uuid.uuid4()
    connection.execute(
        insert(kpi_executions).values(
            id=execution_id,
            kpi_id=kpi.id,
            slot=slot,
            triggered_by=ExecutionTrigger.MANUAL.value,
            status=ExecutionStatus.SUCCEEDED.value,
            attempt=1,
            created_at=now,
            started_at=slot,
            finished_at=slot,
            duration_ms=duration_ms,
            metric_count=len(evaluations),
        )
    )
    rows = history.rows_of(evaluations)
    span = window(slot, kpi.last_minutes)
    history.record(connection, kpi_id=kpi.id, execution_id=execution_id, window=span, rows=rows, now=now)
    return execution_id
