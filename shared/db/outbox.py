"""The outbox: alert events not yet dispatched to `alert-events`, and marking them done."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update

from shared.db.tables import alert_events, outbox
from shared.domain.alert import EventRef


def mark_dispatched(connection: Connection, event_id: int, *, now: datetime) -> None:
    """The event's outbox entry is done: its deliveries exist and were tried."""
    connection.execute(
        update(outbox)
        .where(outbox.c.event_id == event_id, outbox.c.dispatched_at.is_(None))
        .values(dispatched_at=now, attempts=outbox.c.attempts + 1)
    )


def undispatched(
    connection: Connection, *, created_before: datetime, limit: int
) -> list[tuple[EventRef, int]]:
    """Outbox entries not dispatched and older than `created_before`, oldest first, with their attempts."""
    query = (
        select(outbox.c.event_id, alert_events.c.alert_id, outbox.c.attempts)
        .select_from(outbox.join(alert_events, alert_events.c.id == outbox.c.event_id))
        .where(outbox.c.dispatched_at.is_(None), outbox.c.created_at <= created_before)
        .order_by(outbox.c.created_at, outbox.c.id)
        .limit(limit)
    )
    return [
        (EventRef(event_id=event_id, alert_id=alert_id), attempts)
        for event_id, alert_id, attempts in connection.execute(query)
    ]


def count_dispatch_attempt(connection: Connection, event_id: int) -> None:
    connection.execute(
        update(outbox).where(outbox.c.event_id == event_id).values(attempts=outbox.c.attempts + 1)
    )
