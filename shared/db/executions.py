"""KPI executions: claiming one under a lease, and recording how it ended.

Contract: `claim` succeeds for exactly one caller while the execution is queued, or running with an expired
lease (its executor died); every later write is conditional on still holding that lease, so an executor
never records over work it no longer owns, and a finished execution is never run again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, bindparam, insert, or_, select, update

from shared.db.tables import dead_letters, kpi_executions
from shared.domain.execution import ExecutionStatus, ExecutionTrigger

_BODY_LIMIT = 8000


@dataclass(frozen=True, kw_only=True, slots=True)
class Claim:
    """An execution this caller now runs, until `lease_until`."""

    execution_id: uuid.UUID
    kpi_id: int
    slot: datetime
    attempt: int
    owner: str
    lease_until: datetime
    triggered_by: ExecutionTrigger


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
    done = connection.execute(
        _FINISH,
        {
            "p_id": claimed.execution_id,
            "p_owner": claimed.owner,
            "p_status": status.value,
            "p_now": now,
            "p_duration_ms": duration_ms,
            "p_error": error,
            "p_metric_count": metric_count,
        },
    )
    return done.rowcount == 1


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


def record_dead_letter(
    connection: Connection,
    *,
    queue: str,
    reason: str,
    body: str,
    now: datetime,
    message_id: str | None = None,
    dequeue_count: int | None = None,
) -> None:
    """Keep a message that could not be processed, with why, so dropping it loses nothing silently."""
    connection.execute(
        insert(dead_letters).values(
            queue=queue,
            message_id=message_id,
            dequeue_count=dequeue_count,
            reason=reason,
            body=body[:_BODY_LIMIT],
            received_at=now,
        )
    )
