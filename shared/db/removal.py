"""Removing a KPI with everything recorded under it, and listing what a definitions file no longer names.

`delete_kpi` deletes explicitly, child tables first, rather than leaning on the foreign keys' cascades, so it
reports how many rows of each kind went and behaves the same on every database. It runs in the caller's
transaction; the caller resolves the KPI's open alerts (and sends their resolved notices) before.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, select, update

from shared.db.tables import (
    alert_events,
    alerts,
    contacts,
    historical_data,
    kpi_contacts,
    kpi_executions,
    kpis,
    metric_states,
    notifications,
    outbox,
)
from shared.domain.alert import UNRESOLVED


def unschedule(connection: Connection, kpi_id: int) -> None:
    """Stop the KPI from being scheduled while it is being deleted (nothing new is queued for it)."""
    connection.execute(update(kpis).where(kpis.c.id == kpi_id).values(is_active=False, next_run_at=None))


def unresolved_alerts(connection: Connection, kpi_id: int) -> list[int]:
    """The ids of the KPI's open and acknowledged alerts."""
    query = select(alerts.c.id).where(
        alerts.c.kpi_id == kpi_id, alerts.c.status.in_([status.value for status in UNRESOLVED])
    )
    return [int(alert_id) for alert_id in connection.scalars(query.order_by(alerts.c.id))]


def delete_kpi(connection: Connection, kpi_id: int) -> dict[str, int]:
    """Delete the KPI, its contact links, executions (queued ones too), history, metric streaks, alerts and
    their timelines, outbox entries and deliveries; the rows removed per table."""
    of_kpi = select(alerts.c.id).where(alerts.c.kpi_id == kpi_id)
    events_of_kpi = select(alert_events.c.id).where(alert_events.c.alert_id.in_(of_kpi))
    statements = {
        "notifications": delete(notifications).where(notifications.c.event_id.in_(events_of_kpi)),
        "outbox": delete(outbox).where(outbox.c.event_id.in_(events_of_kpi)),
        "alert_events": delete(alert_events).where(alert_events.c.alert_id.in_(of_kpi)),
        "alerts": delete(alerts).where(alerts.c.kpi_id == kpi_id),
        "historical_data": delete(historical_data).where(historical_data.c.kpi_id == kpi_id),
        "metric_states": delete(metric_states).where(metric_states.c.kpi_id == kpi_id),
        "kpi_executions": delete(kpi_executions).where(kpi_executions.c.kpi_id == kpi_id),
        "kpi_contacts": delete(kpi_contacts).where(kpi_contacts.c.kpi_id == kpi_id),
        "kpis": delete(kpis).where(kpis.c.id == kpi_id),
    }
    return {
        table: int(connection.execute(statement).rowcount or 0) for table, statement in statements.items()
    }


def kpis_not_named(connection: Connection, indicators: set[str]) -> list[tuple[int, str]]:
    """The id and indicator of each stored KPI whose indicator is not in `indicators` (ignoring case), by
    indicator."""
    wanted = {indicator.casefold() for indicator in indicators}
    stored = connection.execute(select(kpis.c.id, kpis.c.indicator).order_by(kpis.c.indicator))
    return [(int(kpi_id), str(name)) for kpi_id, name in stored if str(name).casefold() not in wanted]


def contacts_not_named(connection: Connection, names: set[str]) -> list[str]:
    """Stored contact names that are not in `names` (compared ignoring case), sorted."""
    wanted = {name.casefold() for name in names}
    stored = connection.scalars(select(contacts.c.name).order_by(contacts.c.name))
    return [name for name in stored if name.casefold() not in wanted]
