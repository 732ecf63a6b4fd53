"""Retention deletes of the monitoring database: one bounded batch per statement.

Each builder returns a `DELETE FROM t WHERE id IN (SELECT id ... WHERE <time column> < :cutoff ORDER BY
<time column> LIMIT :n)`: the ids come from a range on the table's indexed time column, oldest first, so a
batch reads about `n` index entries and holds its row locks only for its own short transaction. SQL Server
has no `DELETE ... LIMIT`; SQLAlchemy compiles the subquery's limit as `SELECT TOP n`, valid there together
with its ORDER BY. On PostgreSQL the test is `id = ANY(ARRAY(<subquery>))` instead of `IN`, the one dialect
difference (see `_delete_ids`). Every statement is plain SQLAlchemy Core, built for the dialect that runs it.

What each statement may delete, and what it must keep:
- `historical_data`: rows whose window ended before the history cutoff.
- `kpi_executions`: finished executions (succeeded, failed, timed out) that finished before the log cutoff;
  queued or running ones have no `finished_at` and are never selected.
- `notifications`: deliveries that are over (sent or failed) created before the log cutoff, of resolved
  alerts only: a pending delivery is still to be made, and the sent ones of an unresolved alert decide who
  receives its resolved notice.
- `alert_events`: events created before the log cutoff of resolved alerts, unless an undispatched outbox
  entry, a pending delivery or one created inside retention still needs them (deleting an event cascades to
  its outbox entry and deliveries). The audit trail of an open or acknowledged alert stays whole.
- `alerts`: resolved before the log cutoff, once nothing of theirs is still needed: no event newer than the
  cutoff, no undispatched outbox entry, no pending or recent delivery. The delete cascades to what is left
  of the alert's events, outbox entries and deliveries.
- `dead_letters`: received before the log cutoff.
`metric_states` is left alone: it holds one row per (KPI, metric) and is removed with its KPI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Connection,
    Delete,
    FromClause,
    Select,
    Table,
    any_,
    delete,
    exists,
    func,
    or_,
    select,
)

from shared.db.tables import (
    alert_events,
    alerts,
    dead_letters,
    historical_data,
    kpi_executions,
    notifications,
    outbox,
)
from shared.domain.alert import UNRESOLVED
from shared.domain.execution import ExecutionStatus
from shared.domain.notification import DeliveryStatus

# Conditions on status are negative (`NOT IN` the other values of the column's CHECK) so that no planner
# prefers an index on status to the range on time.
UNFINISHED = [status.value for status in ExecutionStatus if not status.finished]
PENDING = DeliveryStatus.PENDING.value
UNRESOLVED_STATUSES = [status.value for status in UNRESOLVED]


@dataclass(frozen=True, kw_only=True, slots=True)
class Purge:
    """One table's batched delete: run `statement` until it deletes fewer than `limit` rows."""

    table: str
    statement: Delete
    limit: int


def plan(*, history_before: datetime, logs_before: datetime, limit: int, dialect: str) -> list[Purge]:
    """Every table's delete for `dialect` (an engine's `dialect.name`), children before parents, so each row
    is counted by the statement of its own table rather than disappearing in a cascade."""
    statements = [
        (historical_data, expired_history(history_before, limit, dialect=dialect)),
        (kpi_executions, finished_executions(logs_before, limit, dialect=dialect)),
        (notifications, delivered_notifications(logs_before, limit, dialect=dialect)),
        (alert_events, past_events(logs_before, limit, dialect=dialect)),
        (alerts, resolved_alerts(logs_before, limit, dialect=dialect)),
        (dead_letters, old_dead_letters(logs_before, limit, dialect=dialect)),
    ]
    return [Purge(table=table.name, statement=statement, limit=limit) for table, statement in statements]


def delete_batch(connection: Connection, statement: Delete) -> int:
    """Run one batch in the caller's transaction; the number of rows it deleted."""
    return int(connection.execute(statement).rowcount)


def expired_history(before: datetime, limit: int, *, dialect: str) -> Delete:
    chosen = historical_data.alias("chosen")
    ids = select(chosen.c.id).where(chosen.c.window_end < before).order_by(chosen.c.window_end)
    return _delete_ids(historical_data, ids, limit, dialect)


def finished_executions(before: datetime, limit: int, *, dialect: str) -> Delete:
    chosen = kpi_executions.alias("chosen")
    ids = (
        select(chosen.c.id)
        .where(chosen.c.finished_at < before, chosen.c.status.not_in(UNFINISHED))
        .order_by(chosen.c.finished_at)
    )
    return _delete_ids(kpi_executions, ids, limit, dialect)


def delivered_notifications(before: datetime, limit: int, *, dialect: str) -> Delete:
    chosen = notifications.alias("chosen")
    ids = (
        select(chosen.c.id)
        .select_from(
            chosen.join(alert_events, alert_events.c.id == chosen.c.event_id).join(
                alerts, alerts.c.id == alert_events.c.alert_id
            )
        )
        .where(chosen.c.created_at < before, chosen.c.status != PENDING, _resolved(alerts))
        .order_by(chosen.c.created_at)
    )
    return _delete_ids(notifications, ids, limit, dialect)


def past_events(before: datetime, limit: int, *, dialect: str) -> Delete:
    chosen = alert_events.alias("chosen")
    undispatched = exists().where(outbox.c.event_id == chosen.c.id, outbox.c.dispatched_at.is_(None))
    kept = exists().where(notifications.c.event_id == chosen.c.id, _kept_delivery(before))
    ids = (
        select(chosen.c.id)
        .select_from(chosen.join(alerts, alerts.c.id == chosen.c.alert_id))
        .where(chosen.c.created_at < before, _resolved(alerts), ~undispatched, ~kept)
        .order_by(chosen.c.created_at)
    )
    return _delete_ids(alert_events, ids, limit, dialect)


def resolved_alerts(before: datetime, limit: int, *, dialect: str) -> Delete:
    chosen = alerts.alias("chosen")
    events = alert_events.alias("events")
    of_alert = events.c.alert_id == chosen.c.id
    recent = exists().where(of_alert, events.c.created_at >= before)
    undispatched = exists().where(
        of_alert, outbox.c.event_id == events.c.id, outbox.c.dispatched_at.is_(None)
    )
    kept = exists().where(of_alert, notifications.c.event_id == events.c.id, _kept_delivery(before))
    ids = (
        select(chosen.c.id)
        .where(chosen.c.resolved_at < before, _resolved(chosen), ~recent, ~undispatched, ~kept)
        .order_by(chosen.c.resolved_at)
    )
    return _delete_ids(alerts, ids, limit, dialect)


def old_dead_letters(before: datetime, limit: int, *, dialect: str) -> Delete:
    chosen = dead_letters.alias("chosen")
    ids = select(chosen.c.id).where(chosen.c.received_at < before).order_by(chosen.c.received_at)
    return _delete_ids(dead_letters, ids, limit, dialect)


def _kept_delivery(before: datetime) -> ColumnElement[bool]:
    """A delivery that keeps its event: still pending, or created inside retention."""
    return or_(notifications.c.status == PENDING, notifications.c.created_at >= before)


def _resolved(table: FromClause) -> ColumnElement[bool]:
    return table.c.status.not_in(UNRESOLVED_STATUSES)


def _delete_ids(table: Table, ids: Select[tuple[object]], limit: int, dialect: str) -> Delete:
    batch = ids.limit(limit)
    if dialect == "postgresql":
        # `= ANY(ARRAY(subquery))`: the batch's ids are computed once, then found through the primary key.
        # PostgreSQL may plan `IN (subquery)` as a semi-join that scans the whole table, or, misjudging the
        # subquery as one row, compares every row with every id.
        return delete(table).where(table.c.id == any_(func.array(batch.scalar_subquery())))
    return delete(table).where(table.c.id.in_(batch))
