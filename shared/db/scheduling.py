"""Scheduling state: due KPIs, the executions created for their slots, and sweeping lost work.

Contract: `claim_due` takes at most `limit` due KPIs (`next_run_at <= now`) through the `next_run_at` index
and locks them for the caller's transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL, `UPDLOCK, READPAST` on
SQL Server; SQLite transactions are serial), so concurrent schedulers never take the same KPI. The caller then
advances each KPI and creates at most one execution per (KPI, slot): the unique key makes a repeated tick a
no-op even if a lock were lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, Table, bindparam, insert, select, update

from shared.db.tables import kpi_executions, kpis, status_in, status_is
from shared.domain.execution import ExecutionStatus, ExecutionTrigger
from shared.domain.kpi import Schedule

UNFINISHED = (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)


@dataclass(frozen=True, kw_only=True, slots=True)
class DueKpi:
    id: int
    slot: datetime
    schedule: Schedule
    is_active: bool
    source: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class Advance:
    """Move a due KPI to its next slot, creating an execution for `slot` unless `skip`."""

    kpi_id: int
    slot: datetime
    next_run_at: datetime | None
    skip: bool = False


def claim_due(connection: Connection, *, now: datetime, limit: int) -> list[DueKpi]:
    """Lock and return up to `limit` due KPIs, oldest slot first."""
    query = (
        select(
            kpis.c.id,
            kpis.c.next_run_at,
            kpis.c.frequency_minutes,
            kpis.c.schedule_cron,
            kpis.c.schedule_timezone,
            kpis.c.is_active,
            kpis.c.source,
        )
        .where(kpis.c.next_run_at <= now)
        .order_by(kpis.c.next_run_at)
        .limit(limit)
    )
    return [
        DueKpi(
            id=row.id,
            slot=row.next_run_at,
            schedule=Schedule(
                frequency_minutes=row.frequency_minutes,
                cron=row.schedule_cron,
                timezone=row.schedule_timezone or "UTC",
            ),
            is_active=bool(row.is_active),
            source=row.source,
        )
        for row in connection.execute(skip_locked(query, kpis))
    ]


def skip_locked(query: Select[Any], table: Table) -> Select[Any]:
    """Lock the selected rows for this transaction and skip rows another transaction has locked:
    `FOR UPDATE SKIP LOCKED` on PostgreSQL, the equivalent table hint on SQL Server (whose SQLAlchemy dialect
    ignores `with_for_update`); SQLite transactions are serial and need neither."""
    return query.with_for_update(skip_locked=True).with_hint(
        table, "WITH (UPDLOCK, READPAST, ROWLOCK)", dialect_name="mssql"
    )


def kpis_with_unfinished_executions(connection: Connection, kpi_ids: Sequence[int]) -> set[int]:
    """Which of `kpi_ids` have an execution still queued or running (partial index on unfinished rows)."""
    if not kpi_ids:
        return set()
    query = (
        select(kpi_executions.c.kpi_id)
        .distinct()
        .where(kpi_executions.c.kpi_id.in_(kpi_ids), status_in(kpi_executions.c.status, *UNFINISHED))
    )
    return set(connection.scalars(query))


def advance(connection: Connection, moves: Sequence[Advance], *, now: datetime) -> list[uuid.UUID]:
    """Apply `moves` (to KPIs locked by `claim_due`) and create their executions; return the new ids."""
    if not moves:
        return []
    connection.execute(
        update(kpis).where(kpis.c.id == bindparam("kpi_id")).values(next_run_at=bindparam("next_at")),
        [{"kpi_id": move.kpi_id, "next_at": move.next_run_at} for move in moves],
    )
    created = [(uuid.uuid4(), move) for move in moves if not move.skip]
    if created:
        connection.execute(
            insert(kpi_executions), [_queued(execution_id, move, now) for execution_id, move in created]
        )
    return [execution_id for execution_id, _ in created]


def _queued(execution_id: uuid.UUID, move: Advance, now: datetime) -> dict[str, object]:
    return {
        "id": execution_id,
        "kpi_id": move.kpi_id,
        "slot": move.slot,
        "triggered_by": ExecutionTrigger.SCHEDULED.value,
        "status": ExecutionStatus.QUEUED.value,
        "created_at": now,
        "enqueued_at": now,
    }


def resend_stale(
    connection: Connection, *, now: datetime, sent_before: datetime, limit: int
) -> list[uuid.UUID]:
    """Queued executions whose message was sent before `sent_before`: mark them re-sent now; return them."""
    stale = list(
        connection.scalars(
            skip_locked(
                select(kpi_executions.c.id)
                .where(
                    status_is(kpi_executions.c.status, ExecutionStatus.QUEUED),
                    kpi_executions.c.enqueued_at < sent_before,
                )
                .order_by(kpi_executions.c.enqueued_at)
                .limit(limit),
                kpi_executions,
            )
        )
    )
    _mark_sent(connection, stale, now)
    return stale


def release_expired(
    connection: Connection, *, now: datetime, max_attempts: int, limit: int
) -> tuple[list[uuid.UUID], list[tuple[uuid.UUID, int]]]:
    """Running executions whose lease expired (their executor died): re-queue those with attempts left and
    fail the rest. Returns (re-queued ids, abandoned (id, kpi id) pairs)."""
    rows = connection.execute(
        skip_locked(
            select(kpi_executions.c.id, kpi_executions.c.kpi_id, kpi_executions.c.attempt)
            .where(
                status_is(kpi_executions.c.status, ExecutionStatus.RUNNING),
                kpi_executions.c.lease_until < now,
            )
            .order_by(kpi_executions.c.lease_until)
            .limit(limit),
            kpi_executions,
        )
    ).all()
    requeue = [row.id for row in rows if row.attempt < max_attempts]
    abandoned = [(row.id, row.kpi_id) for row in rows if row.attempt >= max_attempts]
    abandon = [execution_id for execution_id, _ in abandoned]
    if requeue:
        connection.execute(
            update(kpi_executions)
            .where(kpi_executions.c.id.in_(requeue))
            .values(status=ExecutionStatus.QUEUED.value, lease_owner=None, lease_until=None, enqueued_at=now)
        )
    if abandon:
        connection.execute(
            update(kpi_executions)
            .where(kpi_executions.c.id.in_(abandon))
            .values(
                status=ExecutionStatus.FAILED.value,
                lease_owner=None,
                lease_until=None,
                finished_at=now,
                error=f"abandoned: the lease expired on each of {max_attempts} attempts",
            )
        )
    return requeue, abandoned


def _mark_sent(connection: Connection, execution_ids: Iterable[uuid.UUID], now: datetime) -> None:
    ids = list(execution_ids)
    if ids:
        connection.execute(update(kpi_executions).where(kpi_executions.c.id.in_(ids)).values(enqueued_at=now))
