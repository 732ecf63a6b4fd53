"""Concurrency slots: at most `limit` executions query one source at a time, across every instance.

Contract: each source has rows `slot_no = 0..limit-1`; `acquire` takes a free one (no lease, or an expired
lease) with a conditional UPDATE, so two executors never hold the same slot; `release` frees only the slot the
execution holds. Slot rows beyond a lowered limit are simply never chosen again.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Connection, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from shared.db.tables import source_slots


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
    """Take a free slot of `source` below `limit`; None when all are held."""
    free = (source_slots.c.lease_until.is_(None)) | (source_slots.c.lease_until < now)
    candidates = connection.scalars(
        select(source_slots.c.slot_no)
        .where(source_slots.c.source == source, source_slots.c.slot_no < limit, free)
        .order_by(source_slots.c.slot_no)
    ).all()
    for slot_no in candidates:
        taken = connection.execute(
            update(source_slots)
            .where(source_slots.c.source == source, source_slots.c.slot_no == slot_no, free)
            .values(execution_id=execution_id, lease_owner=owner, lease_until=lease_until)
        )
        if taken.rowcount == 1:
            return int(slot_no)
    return None


def release(connection: Connection, source: str, slot_no: int, execution_id: uuid.UUID) -> None:
    """Free the slot if `execution_id` still holds it."""
    connection.execute(
        update(source_slots)
        .where(
            and_(source_slots.c.source == source, source_slots.c.slot_no == slot_no),
            source_slots.c.execution_id == execution_id,
        )
        .values(execution_id=None, lease_owner=None, lease_until=None)
    )
