"""Recording a queue message that is dropped, so it is never lost silently."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Engine

from shared.db import executions
from shared.messages import describe_body

log = logging.getLogger("mgrid.dead_letters")


def record_dropped(
    engine: Engine,
    *,
    queue: str,
    reason: str,
    body: bytes,
    now: datetime,
    message_id: str | None,
    dequeue_count: int | None,
) -> None:
    """Log the message and keep it in `dead_letters` with the reason it was dropped."""
    log.error("message %s on %s recorded and dropped: %s", message_id, queue, reason)
    with engine.begin() as connection:
        executions.record_dead_letter(
            connection,
            queue=queue,
            reason=reason,
            body=describe_body(body),
            now=now,
            message_id=message_id,
            dequeue_count=dequeue_count,
        )
