"""Recording how claimed executions ended: conditional on the lease, so an executor never records over work
it no longer owns (the contract of `shared.db.executions`)."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, bindparam, case, cast, update
from sqlalchemy.sql.dml import Update

from shared.db.statements import in_list
from shared.db.tables import kpi_executions
from shared.domain.execution import Claim, ExecutionStatus

_FINISH = (
    update(kpi_executions)
    .where(
        kpi_executions.c.id == bindparam("p_id"),
        kpi_executions.c.lease_owner == bindparam("p_owner"),
        kpi_executions.c.status == ExecutionStatus.RUNNING.value,
    )
    .values(
        status=bindparam("p_status"),
        finished_at=bindparam("p_now"),
        duration_ms=bindparam("p_duration_ms"),
        error=bindparam("p_error"),
        metric_count=bindparam("p_metric_count"),
        lease_owner=None,
        lease_until=None,
    )
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """How one claimed execution ended, for `finish_many`."""

    execution_id: uuid.UUID
    status: ExecutionStatus
    duration_ms: int
    error: str | None = None
    metric_count: int | None = None


def finish(
    connection: Connection,
    claimed: Claim,
    *,
    status: ExecutionStatus,
    now: datetime,
    duration_ms: int,
    error: str | None = None,
    metric_count: int | None = None,
) -> bool:
    """Record the end of a claimed execution; False when the lease was lost (nothing is written then)."""
    outcome = Outcome(
        execution_id=claimed.execution_id,
        status=status,
        duration_ms=duration_ms,
        error=error,
        metric_count=metric_count,
    )
    return _finish_one(connection, outcome, owner=claimed.owner, now=now)


#: Most executions one finishing statement records (5 parameters each): psycopg parses a statement's text
#: again on every execution above 50 parameters or 4096 characters, so larger groups take several.
FINISH_CHUNK = 8


def finish_many(
    connection: Connection, outcomes: Sequence[Outcome], *, owner: str, now: datetime
) -> set[uuid.UUID]:
    """`finish` for executions claimed by one owner, in one statement (a CASE per column) per FINISH_CHUNK;
    returns the ids recorded. Those missing lost their lease and nothing was written for them."""
    recorded: set[uuid.UUID] = set()
    for start in range(0, len(outcomes), FINISH_CHUNK):
        recorded |= _finish_chunk(connection, outcomes[start : start + FINISH_CHUNK], owner=owner, now=now)
    return recorded


def _finish_chunk(
    connection: Connection, outcomes: Sequence[Outcome], *, owner: str, now: datetime
) -> set[uuid.UUID]:
    if len(outcomes) == 1:
        outcome = outcomes[0]
        return {outcome.execution_id} if _finish_one(connection, outcome, owner=owner, now=now) else set()
    params: dict[str, Any] = {"p_owner": owner, "p_now": now}
    for i, o in enumerate(outcomes):
        params.update(
            {
                f"p_id{i}": o.execution_id,
                f"p_status{i}": o.status.value,
                f"p_duration{i}": o.duration_ms,
                f"p_error{i}": o.error,
                f"p_metrics{i}": o.metric_count,
            }
        )
    return set(connection.scalars(_finish_many(len(outcomes)), params))


def _finish_one(connection: Connection, outcome: Outcome, *, owner: str, now: datetime) -> bool:
    done = connection.execute(
        _FINISH,
        {
            "p_id": outcome.execution_id,
            "p_owner": owner,
            "p_status": outcome.status.value,
            "p_now": now,
            "p_duration_ms": outcome.duration_ms,
            "p_error": outcome.error,
            "p_metric_count": outcome.metric_count,
        },
    )
    return done.rowcount == 1


@functools.cache
def _finish_many(count: int) -> Update:
    """`_FINISH` for `count` executions of one owner: a CASE on the id per column, one statement per batch
    size (compiled once)."""
    by_id = kpi_executions.c.id

    def per_row(column: Column[Any], name: str) -> ColumnElement[Any]:
        # The CAST keeps a CASE whose values are all NULL typed as its column (PostgreSQL would take text).
        whens = [
            (by_id == bindparam(f"p_id{i}"), bindparam(f"{name}{i}", type_=column.type)) for i in range(count)
        ]
        return cast(case(*whens), column.type)

    return (
        update(kpi_executions)
        .where(
            in_list(by_id, count, "p_id"),
            kpi_executions.c.lease_owner == bindparam("p_owner"),
            kpi_executions.c.status == ExecutionStatus.RUNNING.value,
        )
        .values(
            status=per_row(kpi_executions.c.status, "p_status"),
            finished_at=bindparam("p_now"),
            duration_ms=per_row(kpi_executions.c.duration_ms, "p_duration"),
            error=per_row(kpi_executions.c.error, "p_error"),
            metric_count=per_row(kpi_executions.c.metric_count, "p_metrics"),
            lease_owner=None,
            lease_until=None,
        )
        .returning(by_id)
    )
