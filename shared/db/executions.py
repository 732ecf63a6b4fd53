"""KPI executions: claiming one under a lease, giving it back, creating and failing one outside a run.

Contract: `claim` succeeds for exactly one caller while the execution is queued, or running with an expired
lease (its executor died); every later write is conditional on still holding that lease, so an executor
never records over work it no longer owns (`finish`, `finish_many`: `shared.db.execution_outcomes`), and a
finished execution is never run again. `record_dead_letter` (`shared.db.dead_letters`) is importable from
here too.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.sql.dml import Update

from shared.db.dead_letters import record_dead_letter
from shared.db.execution_outcomes import Outcome, finish, finish_many
from shared.db.statements import in_list, in_params
from shared.db.tables import kpi_executions
from shared.domain.execution import Claim, ExecutionStatus, ExecutionTrigger

__all__ = [
    "Claim",
    "ExecutionState",
    "Outcome",
    "claim",
    "claim_many",
    "create_manual",
    "fail_unfinished",
    "finish",
    "finish_many",
    "give_back",
    "give_back_many",
    "record_dead_letter",
    "state",
    "states",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecutionState:
    kpi_id: int
    status: ExecutionStatus
    lease_until: datetime | None


# Hot-path statements are built once: building SQLAlchemy expressions per call cost more than running them.
_CLAIM = (
    update(kpi_executions)
    .where(
        kpi_executions.c.id == bindparam("p_id"),
        or_(
            kpi_executions.c.status == ExecutionStatus.QUEUED.value,
            and_(
                kpi_executions.c.status == ExecutionStatus.RUNNING.value,
                kpi_executions.c.lease_until < bindparam("p_now"),
            ),
        ),
    )
    .values(
        status=ExecutionStatus.RUNNING.value,
        lease_owner=bindparam("p_owner"),
        lease_until=bindparam("p_until"),
        attempt=kpi_executions.c.attempt + 1,
        started_at=bindparam("p_now"),
    )
    .returning(
        kpi_executions.c.kpi_id,
        kpi_executions.c.slot,
        kpi_executions.c.attempt,
        kpi_executions.c.triggered_by,
    )
)


_CLAIMABLE = or_(
    kpi_executions.c.status == ExecutionStatus.QUEUED.value,
    and_(
        kpi_executions.c.status == ExecutionStatus.RUNNING.value,
        kpi_executions.c.lease_until < bindparam("p_now"),
    ),
)


@functools.cache
def _claim_many(count: int) -> Update:
    """`_CLAIM` for `count` executions (one statement per batch size, compiled once)."""
    return (
        update(kpi_executions)
        .where(in_list(kpi_executions.c.id, count, "p_id"), _CLAIMABLE)
        .values(
            status=ExecutionStatus.RUNNING.value,
            lease_owner=bindparam("p_owner"),
            lease_until=bindparam("p_until"),
            attempt=kpi_executions.c.attempt + 1,
            started_at=bindparam("p_now"),
        )
        .returning(
            kpi_executions.c.id,
            kpi_executions.c.kpi_id,
            kpi_executions.c.slot,
            kpi_executions.c.attempt,
            kpi_executions.c.triggered_by,
        )
    )


_STATES = select(
    kpi_executions.c.id, kpi_executions.c.kpi_id, kpi_executions.c.status, kpi_executions.c.lease_until
).where(kpi_executions.c.id.in_(bindparam("p_ids", expanding=True)))


def claim_many(
    connection: Connection, execution_ids: Sequence[uuid.UUID], *, owner: str, now: datetime, lease_s: float
) -> list[Claim]:
    """`claim` for several executions in one statement (a batch): those this caller now runs, in the order
    of `execution_ids`; the others are held by another executor, finished or missing."""
    if not execution_ids:
        return []
    lease_until = now + timedelta(seconds=lease_s)
    params = {**in_params("p_id", execution_ids), "p_now": now, "p_owner": owner, "p_until": lease_until}
    rows = connection.execute(_claim_many(len(execution_ids)), params).all()
    claimed = {
        row.id: Claim(
            execution_id=row.id,
            kpi_id=row.kpi_id,
            slot=row.slot,
            attempt=row.attempt,
            owner=owner,
            lease_until=lease_until,
            triggered_by=ExecutionTrigger(row.triggered_by),
        )
        for row in rows
    }
    return [claimed[execution_id] for execution_id in execution_ids if execution_id in claimed]


def states(connection: Connection, execution_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, ExecutionState]:
    """The status of each execution of `execution_ids` that exists, in one statement."""
    if not execution_ids:
        return {}
    rows = connection.execute(_STATES, {"p_ids": list(execution_ids)})
    return {
        row.id: ExecutionState(
            kpi_id=row.kpi_id, status=ExecutionStatus(row.status), lease_until=row.lease_until
        )
        for row in rows
    }


def claim(
    connection: Connection, execution_id: uuid.UUID, *, owner: str, now: datetime, lease_s: float
) -> Claim | None:
    """Take the execution if it is queued or its lease expired; None when another has it or it is done."""
    lease_until = now + timedelta(seconds=lease_s)
    row = connection.execute(
        _CLAIM, {"p_id": execution_id, "p_now": now, "p_owner": owner, "p_until": lease_until}
    ).first()
    if row is None:
        return None
    return Claim(
        execution_id=execution_id,
        kpi_id=row.kpi_id,
        slot=row.slot,
        attempt=row.attempt,
        owner=owner,
        lease_until=lease_until,
        triggered_by=ExecutionTrigger(row.triggered_by),
    )


def state(connection: Connection, execution_id: uuid.UUID) -> ExecutionState | None:
    """The execution's status, or None when it does not exist (never created, or its KPI was deleted)."""
    row = connection.execute(
        select(kpi_executions.c.kpi_id, kpi_executions.c.status, kpi_executions.c.lease_until).where(
            kpi_executions.c.id == execution_id
        )
    ).first()
    if row is None:
        return None
    return ExecutionState(kpi_id=row.kpi_id, status=ExecutionStatus(row.status), lease_until=row.lease_until)


def give_back(connection: Connection, claimed: Claim, *, now: datetime) -> bool:
    """Return a claimed execution to the queue untouched (no concurrency slot was free): the attempt is not
    counted and it is marked as sent now, since the caller sends its message again."""
    released = connection.execute(
        update(kpi_executions)
        .where(kpi_executions.c.id == claimed.execution_id, kpi_executions.c.lease_owner == claimed.owner)
        .values(
            status=ExecutionStatus.QUEUED.value,
            lease_owner=None,
            lease_until=None,
            started_at=None,
            attempt=kpi_executions.c.attempt - 1,
            enqueued_at=now,
        )
    )
    return released.rowcount == 1


def give_back_many(connection: Connection, claims: Sequence[Claim], *, owner: str, now: datetime) -> None:
    """`give_back` for the executions of a batch that found their source full, in one statement."""
    if not claims:
        return
    connection.execute(
        update(kpi_executions)
        .where(
            kpi_executions.c.id.in_([claimed.execution_id for claimed in claims]),
            kpi_executions.c.lease_owner == owner,
        )
        .values(
            status=ExecutionStatus.QUEUED.value,
            lease_owner=None,
            lease_until=None,
            started_at=None,
            attempt=kpi_executions.c.attempt - 1,
            enqueued_at=now,
        )
    )


def fail_unfinished(
    connection: Connection, execution_id: uuid.UUID, *, now: datetime, error: str
) -> int | None:
    """Mark a queued or running execution failed (its message was poisoned); return its KPI id, or None if it
    does not exist or already finished."""
    current = state(connection, execution_id)
    if current is None or current.status.finished:
        return None
    connection.execute(
        update(kpi_executions)
        .where(kpi_executions.c.id == execution_id, kpi_executions.c.status == current.status.value)
        .values(
            status=ExecutionStatus.FAILED.value,
            finished_at=now,
            error=error,
            lease_owner=None,
            lease_until=None,
        )
    )
    return current.kpi_id


def create_manual(connection: Connection, kpi_id: int, *, now: datetime) -> uuid.UUID:
    """A queued execution of `kpi_id` for slot `now`, outside the schedule (`mgrid kpi run`)."""
    execution_id = uuid.uuid4()
    connection.execute(
        insert(kpi_executions).values(
            id=execution_id,
            kpi_id=kpi_id,
            slot=now,
            triggered_by=ExecutionTrigger.MANUAL.value,
            status=ExecutionStatus.QUEUED.value,
            created_at=now,
            enqueued_at=now,
        )
    )
    return execution_id
