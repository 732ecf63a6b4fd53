"""Deliveries: one row per (event, contact, channel) in `notifications`.

A delivery is claimed before it is sent: a conditional UPDATE moves `next_attempt_at` (while `pending`) past
now, so whoever claims it sends it and every concurrent or redelivered attempt finds nothing to claim. The
claim expires, so a delivery whose sender died is picked up again by the alert processor. Every step is one
short transaction; nothing is held while a channel talks to its server.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from shared.db.tables import notifications
from shared.domain.delivery import Delivery
from shared.domain.notification import Channel, DeliveryStatus

_PENDING = DeliveryStatus.PENDING.value


def ensure_deliveries(
    connection: Connection, event_id: int, wanted: Sequence[tuple[int, Channel]], *, now: datetime
) -> None:
    """Create the missing `pending` rows of (contact, channel) for the event; existing rows stay as they are.
    A concurrent invocation may insert the same rows: the unique key refuses them and they are skipped."""
    query = select(notifications.c.contact_id, notifications.c.channel).where(
        notifications.c.event_id == event_id
    )
    existing = {(contact_id, channel) for contact_id, channel in connection.execute(query)}
    rows = [
        {
            "event_id": event_id,
            "contact_id": contact_id,
            "channel": channel.value,
            "status": _PENDING,
            "next_attempt_at": now,
            "created_at": now,
        }
        for contact_id, channel in wanted
        if (contact_id, channel.value) not in existing
    ]
    if not rows:
        return
    try:
        with connection.begin_nested():
            connection.execute(insert(notifications), rows)
    except IntegrityError:
        for row in rows:
            try:
                with connection.begin_nested():
                    connection.execute(insert(notifications).values(row))
            except IntegrityError:
                continue


def claimable(connection: Connection, event_id: int, *, now: datetime) -> list[Delivery]:
    """The event's pending deliveries that nobody holds and whose retry time has come."""
    query = (
        select(*_DELIVERY_COLUMNS)
        .where(notifications.c.event_id == event_id, *_ready(now))
        .order_by(notifications.c.id)
    )
    return [_delivery(row) for row in connection.execute(query).mappings()]


def due(connection: Connection, *, now: datetime, limit: int) -> list[Delivery]:
    """Pending deliveries whose retry time (or expired claim) has come, oldest first, at most `limit`."""
    query = (
        select(*_DELIVERY_COLUMNS)
        .where(*_ready(now))
        .order_by(notifications.c.next_attempt_at, notifications.c.id)
        .limit(limit)
    )
    return [_delivery(row) for row in connection.execute(query).mappings()]


def claim(connection: Connection, delivery_id: int, *, now: datetime, until: datetime) -> bool:
    """Take the delivery until `until`; False when it is sent, failed or held by someone else."""
    done = connection.execute(
        update(notifications)
        .where(notifications.c.id == delivery_id, *_ready(now))
        .values(next_attempt_at=until)
    )
    return done.rowcount == 1


def mark_sent(connection: Connection, delivery_id: int, *, tries: int, now: datetime) -> None:
    connection.execute(
        update(notifications)
        .where(notifications.c.id == delivery_id)
        .values(
            status=DeliveryStatus.SENT.value,
            attempts=notifications.c.attempts + tries,
            sent_at=now,
            next_attempt_at=None,
            last_error=None,
        )
    )


def mark_retry(
    connection: Connection, delivery_id: int, *, tries: int, error: str, retry_at: datetime
) -> None:
    connection.execute(
        update(notifications)
        .where(notifications.c.id == delivery_id)
        .values(attempts=notifications.c.attempts + tries, last_error=error[:4000], next_attempt_at=retry_at)
    )


def mark_failed(connection: Connection, delivery_id: int, *, tries: int, error: str) -> None:
    connection.execute(
        update(notifications)
        .where(notifications.c.id == delivery_id)
        .values(
            status=DeliveryStatus.FAILED.value,
            attempts=notifications.c.attempts + tries,
            last_error=error[:4000],
            next_attempt_at=None,
        )
    )


def mark_unsent(connection: Connection, delivery_id: int, *, status: DeliveryStatus, reason: str) -> None:
    """The delivery ends without a try: `skipped` (its channel is off or not configured) or `dropped` (its
    alert was acknowledged or resolved first), with the reason."""
    connection.execute(
        update(notifications)
        .where(notifications.c.id == delivery_id)
        .values(status=status.value, last_error=reason[:4000], next_attempt_at=None)
    )


_DELIVERY_COLUMNS = (
    notifications.c.id,
    notifications.c.event_id,
    notifications.c.contact_id,
    notifications.c.channel,
    notifications.c.attempts,
)


def _ready(now: datetime) -> tuple[Any, ...]:
    return (
        notifications.c.status == _PENDING,
        or_(notifications.c.next_attempt_at.is_(None), notifications.c.next_attempt_at <= now),
    )


def _delivery(row: RowMapping) -> Delivery:
    return Delivery(
        id=row["id"],
        event_id=row["event_id"],
        contact_id=row["contact_id"],
        channel=Channel(row["channel"]),
        attempts=row["attempts"],
    )
