"""Component heartbeats (`system_status`): when each periodic component last ran, and how it went."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from shared.db.statements import upsert
from shared.db.tables import system_status


def heartbeat(
    connection: Connection, component: str, *, status: str, now: datetime, details: dict[str, Any]
) -> None:
    """Record that `component` ran at `now`."""
    values = {"status": status, "heartbeat_at": now, "details": json.dumps(details, default=str)}
    upsert(connection, system_status, {"component": component}, values)
