"""Recording a queue message that is dropped, so it is never lost silently."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from shared.db import executions
from shared.messages import describe_body

log = logging.getLogger("mgrid.dead_letters")


class DeadLetters:
    """Keeps dropped messages in `dead_letters` with the reason, and logs each."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._clock = clock

    def record(
        self, queue: str, reason: str, body: bytes, message_id: str | None, dequeue_count: int | None
    ) -> None:
        log.error("message %s on %s recorded and dropped: %s", message_id, queue, reason)
        with self._engine.begin() as connection:
            executions.record_dead_letter(
                connection,
                queue=queue,
                reason=reason,
                body=describe_body(body),
                now=self._clock(),
                message_id=message_id,
                dequeue_count=dequeue_count,
            )
