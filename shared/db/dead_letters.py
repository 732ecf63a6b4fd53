"""Messages that could not be processed, kept with why (`dead_letters`), so dropping one loses nothing
silently."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert

from shared.db.tables import dead_letters

_BODY_LIMIT = 8000


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
