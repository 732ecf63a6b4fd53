"""Listing alerts (`mgrid alerts list`): the newest first, optionally of one status."""

from __future__ import annotations

from sqlalchemy import Engine

from shared.db import alert_views
from shared.domain.alert import AlertStatus, AlertSummary


def recent_alerts(engine: Engine, *, status: AlertStatus | None, limit: int) -> list[AlertSummary]:
    """At most `limit` alerts, the most recently opened first, with their KPI's indicator."""
    with engine.connect() as connection:
        return alert_views.recent_alerts(connection, status=status, limit=limit)
