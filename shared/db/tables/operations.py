"""The service's own records: component heartbeats and the queue messages that could not be handled."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, Table, Unicode, UnicodeText

from shared.db.tables.common import metadata
from shared.db.types import BigId, UtcDateTime

system_status = Table(
    "system_status",
    metadata,
    Column("component", Unicode(50), primary_key=True),
    Column("status", Unicode(16), nullable=False),
    Column("heartbeat_at", UtcDateTime, nullable=False),
    Column("details", UnicodeText),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("queue", Unicode(63), nullable=False),
    Column("message_id", Unicode(100)),
    Column("dequeue_count", Integer),
    Column("reason", UnicodeText, nullable=False),
    # The message as received, cut to 8000 characters: enough to diagnose, bounded in size.
    Column("body", UnicodeText),
    Column("received_at", UtcDateTime, nullable=False),
    Index("ix_dead_letters_received_at", "received_at"),
)
