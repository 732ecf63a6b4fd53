"""Concurrency slots: at most `limit` executions query one source at a time, across every instance.

Contract: each source has rows `slot_no = 0..limit-1`; `acquire` takes the lowest free one (no lease, or an
expired lease) in one statement: a subquery picks it while skipping rows other transactions hold
(`FOR UPDATE SKIP LOCKED`; `UPDLOCK, READPAST` on SQL Server; SQLite is serial) and the UPDATE re-checks that
it is free, so two executors never hold the same slot. `release` frees only the slot the execution holds.
Slot rows beyond a lowered limit are simply never chosen again.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Update, bindparam, case, cast, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from shared.db.statements import in_list, in_params
from shared.db.tables import source_slots

_FREE = or_(source_slots.c.lease_until.is_(None), source_slots.c.lease_until < bindparam("p_now"))
_PICK = (
    select(source_slots.c.slot_no)
    .where(
        source_slots.c.source == bindparam("p_source"), source_slots.c.slot_no < bindparam("p_limit"), _FREE
    )
    .order_by(source_slots.c.slot_no)
    .limit(1)
    .with_for_update(skip_locked=True)
    .with_hint(source_slots, "WITH (UPDLOCK, READPAST, ROWLOCK)", dialect_name="mssql")
    .scalar_subquery()
)
_ACQUIRE = (
    update(source_slots)
    .where(source_slots.c.source == bindparam("p_source"), source_slots.c.slot_no == _PICK, _FREE)
    .values(
        execution_id=bindparam("p_execution"),
        lease_owner=bindparam("p_owner"),
        lease_until=bindparam("p_until"),
    )
    .returning(source_slots.c.slot_no)
)
_RELEASE = (
    update(source_slots)
    .where(
        source_slots.c.source == bindparam("p_source"),
        source_slots.c.slot_no == bindparam("p_slot"),
        source_slots.c.execution_id == bindparam("p_execution"),
    )
    .values(execution_id=None, lease_owner=None, lease_until=None)
)


def ensure(connection: Connection, source: str, limit: int) -> None:
    """Create the slot rows `0..limit-1` of `source` that do not exist yet (idempotent, race-safe)."""
    existing = set(connection.scalars(select(source_slots.c.slot_no).where(source_slots.c.source == source)))
    for slot_no in sorted(set(range(limit)) - existing):
        try:
            with connection.begin_nested():
                connection.execute(insert(source_slots).values(source=source, slot_no=slot_no))
        except IntegrityError:
            pass  # another executor created it first: just as good


def acquire(
    connection: Connection,
    source: str,
    *,
    limit: int,
    execution_id: uuid.UUID,
    owner: str,
    now: datetime,
    lease_until: datetime,
) -> int | None:
    """Take the lowest free slot of `source` below `limit`; None when all are held."""
    slot_no = connection.execute(
        _ACQUIRE,
        {
            "p_source": source,
            "p_limit": limit,
            "p_now": now,
            "p_execution": execution_id,
            "p_owner": owner,
            "p_until": lease_until,
        },
    ).scalar()
    return None if slot_no is None else int(slot_no)


_PICK_MANY = (
    select(source_slots.c.slot_no)
    .where(
        source_slots.c.source == bindparam("p_source"), source_slots.c.slot_no < bindparam("p_limit"), _FREE
    )
    .order_by(source_slots.c.slot_no)
    .limit(bindparam("p_count"))
    .with_for_update(skip_locked=True)
    .with_hint(source_slots, "WITH (UPDLOCK, READPAST, ROWLOCK)", dialect_name="mssql")
)


@functools.cache
def _release_many(count: int) -> Update:
    return (
        update(source_slots)
        .where(
            in_list(source_slots.c.execution_id, count, "p_execution"),
            source_slots.c.lease_owner == bindparam("p_owner"),
        )
        .values(execution_id=None, lease_owner=None, lease_until=None)
    )


@functools.cache
def _take_many(count: int) -> Update:
    """Give the picked slots `p_slot<i>` to executions `p_execution<i>` (a CASE on the slot number), if they
    are still free; one statement per count, compiled once."""
    slot_no = source_slots.c.slot_no
    uuid_type = source_slots.c.execution_id.type
    whens = [
        (slot_no == bindparam(f"p_slot{i}"), bindparam(f"p_execution{i}", type_=uuid_type))
        for i in range(count)
    ]
    return (
        update(source_slots)
        .where(source_slots.c.source == bindparam("p_source"), in_list(slot_no, count, "p_slot"), _FREE)
        .values(
            execution_id=cast(case(*whens), source_slots.c.execution_id.type),
            lease_owner=bindparam("p_owner"),
            lease_until=bindparam("p_until"),
        )
        .returning(slot_no)
    )


def acquire_many(
    connection: Connection,
    source: str,
    *,
    limit: int,
    execution_ids: Sequence[uuid.UUID],
    owner: str,
    now: datetime,
    lease_until: datetime,
) -> dict[uuid.UUID, int]:
    """Slots for several executions of one batch (one owner): the lowest free ones, locked and skipped by
    concurrent callers like `acquire`, then taken by one UPDATE that re-checks they are free. Returns the slot
    of each execution that got one (the first ones of `execution_ids`); the rest found the source full."""
    if len(execution_ids) <= 1:
        got = [
            (
                execution_id,
                acquire(
                    connection,
                    source,
                    limit=limit,
                    execution_id=execution_id,
                    owner=owner,
                    now=now,
                    lease_until=lease_until,
                ),
            )
            for execution_id in execution_ids
        ]
        return {execution_id: slot_no for execution_id, slot_no in got if slot_no is not None}
    free = list(
        connection.scalars(
            _PICK_MANY,
            {"p_source": source, "p_limit": limit, "p_now": now, "p_count": len(execution_ids)},
        )
    )
    if not free:
        return {}
    assigned = dict(zip(free, execution_ids, strict=False))
    params = {
        "p_source": source,
        "p_now": now,
        "p_owner": owner,
        "p_until": lease_until,
        **in_params("p_slot", list(assigned)),
        **in_params("p_execution", list(assigned.values())),
    }
    taken = connection.scalars(_take_many(len(assigned)), params)
    return {assigned[int(slot_no)]: int(slot_no) for slot_no in taken}


def release_many(connection: Connection, execution_ids: Sequence[uuid.UUID], *, owner: str) -> None:
    """Free the slots these executions hold under `owner`'s lease, whatever their source, in one statement
    (a slot taken meanwhile by another attempt at the same execution stays held)."""
    if execution_ids:
        params = {**in_params("p_execution", execution_ids), "p_owner": owner}
        connection.execute(_release_many(len(execution_ids)), params)


def release(connection: Connection, source: str, slot_no: int, execution_id: uuid.UUID) -> None:
    """Free the slot if `execution_id` still holds it."""
    connection.execute(_RELEASE, {"p_source": source, "p_slot": slot_no, "p_execution": execution_id})
