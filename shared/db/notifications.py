"""Delivering alert events: what an event needs to be told (its alert, KPI and recipients), one row per
(event, contact, channel) in `notifications`, and the outbox of events not yet dispatched.

A delivery is claimed before it is sent: a conditional UPDATE moves `next_attempt_at` (while `pending`) past
now, so whoever claims it sends it and every concurrent or redelivered attempt finds nothing to claim. The
claim expires, so a delivery whose sender died is picked up again by the alert processor. Every step is one
short transaction; nothing is held while a channel talks to its server.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from shared.db.alerts import EventRef
from shared.db.tables import alert_events, alerts, contacts, kpi_contacts, kpis, notifications, outbox
from shared.domain.alert import AlertEventType, AlertKind, AlertStatus, Severity
from shared.domain.alert_text import AlertFacts, EventFacts
from shared.domain.contact import Contact
from shared.domain.kpi import Priority, Threshold, ThresholdOperator
from shared.domain.notification import Channel, DeliveryStatus
from shared.domain.recipients import Member

_PENDING = DeliveryStatus.PENDING.value


@dataclass(frozen=True, kw_only=True, slots=True)
class EventContext:
    """An alert event with its alert and KPI (None for system alerts)."""

    event_id: int
    alert_id: int
    kpi_id: int | None
    alert_status: AlertStatus
    priority: Priority
    alert: AlertFacts
    event: EventFacts


@dataclass(frozen=True, kw_only=True, slots=True)
class Delivery:
    """One row of `notifications`."""

    id: int
    event_id: int
    contact_id: int
    channel: Channel
    attempts: int


_EVENT = select(
    alert_events.c.id,
    alert_events.c.alert_id,
    alert_events.c.event_type,
    alert_events.c.escalation_level,
    alert_events.c.details,
    alert_events.c.created_at,
    alerts.c.kpi_id,
    alerts.c.metric_key,
    alerts.c.kind,
    alerts.c.status,
    alerts.c.severity,
    alerts.c.current_value,
    alerts.c.baseline_value,
    alerts.c.deviation_percent,
    kpis.c.indicator,
    kpis.c.owner,
    kpis.c.priority,
    kpis.c.subject_template,
    kpis.c.description_template,
    kpis.c.threshold_operator,
    kpis.c.threshold_value,
    kpis.c.minimum_threshold,
).select_from(alert_events.join(alerts, alerts.c.id == alert_events.c.alert_id).outerjoin(kpis))
_CONTACT_COLUMNS = (
    contacts.c.id,
    contacts.c.name,
    contacts.c.email,
    contacts.c.phone,
    contacts.c.teams_webhook,
    contacts.c.slack_webhook,
    contacts.c.webhook_url,
)
#: Event types whose details carry the measured values and window of the alert.
_MEASURED = (AlertEventType.OPENED.value, AlertEventType.RETRIGGERED.value)


def event_context(connection: Connection, event_id: int) -> EventContext | None:
    """The event with what its notice shows, or None when it does not exist (any more)."""
    row = connection.execute(_EVENT.where(alert_events.c.id == event_id)).mappings().first()
    if row is None:
        return None
    details = _details(row["details"])
    if AlertEventType(row["event_type"]).value not in _MEASURED and "window_end" not in details:
        details = {**_values_of(row), **_last_measured(connection, row["alert_id"]), **details}
    kind = AlertKind(row["kind"])
    severity = Severity(row["severity"])
    return EventContext(
        event_id=row["id"],
        alert_id=row["alert_id"],
        kpi_id=row["kpi_id"],
        alert_status=AlertStatus(row["status"]),
        priority=Priority(row["priority"])
        if row["priority"] is not None
        else (Priority.CRITICAL if severity is Severity.CRITICAL else Priority.WARNING),
        alert=_alert_facts(row, kind, severity),
        event=EventFacts(
            event_type=AlertEventType(row["event_type"]),
            escalation_level=row["escalation_level"],
            occurred_at=row["created_at"],
            details=details,
        ),
    )


def _alert_facts(row: RowMapping, kind: AlertKind, severity: Severity) -> AlertFacts:
    if row["indicator"] is None:
        return AlertFacts(kind=kind, severity=severity, metric_key=row["metric_key"])
    operator = row["threshold_operator"]
    return AlertFacts(
        kind=kind,
        severity=severity,
        metric_key=row["metric_key"],
        indicator=row["indicator"],
        owner=row["owner"],
        subject_template=row["subject_template"],
        description_template=row["description_template"],
        threshold=Threshold(operator=ThresholdOperator(operator), value=row["threshold_value"])
        if operator is not None
        else None,
        minimum_threshold=row["minimum_threshold"],
    )


def _values_of(row: RowMapping) -> dict[str, Any]:
    return {
        "current": row["current_value"],
        "baseline": row["baseline_value"],
        "deviation_percent": row["deviation_percent"],
    }


def _last_measured(connection: Connection, alert_id: int) -> dict[str, Any]:
    """The window of the alert's latest measured event (its values come from the alert row)."""
    details = connection.scalar(
        select(alert_events.c.details)
        .where(alert_events.c.alert_id == alert_id, alert_events.c.event_type.in_(_MEASURED))
        .order_by(alert_events.c.created_at.desc(), alert_events.c.id.desc())
        .limit(1)
    )
    measured = _details(details)
    return {key: measured[key] for key in ("window_start", "window_end") if key in measured}


def _details(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def linked_members(connection: Connection, kpi_id: int) -> list[Member]:
    """The KPI's active contacts with their escalation levels."""
    query = (
        select(*_CONTACT_COLUMNS, kpi_contacts.c.escalation_level)
        .select_from(kpi_contacts.join(contacts))
        .where(kpi_contacts.c.kpi_id == kpi_id, contacts.c.is_active)
        .order_by(kpi_contacts.c.escalation_level, contacts.c.name)
    )
    return [_member(row, level=row["escalation_level"]) for row in connection.execute(query).mappings()]


def linked_levels(connection: Connection, kpi_ids: Iterable[int]) -> dict[int, list[int]]:
    """The escalation levels that have an active contact, per KPI, ascending."""
    ids = sorted(set(kpi_ids))
    if not ids:
        return {}
    query = (
        select(kpi_contacts.c.kpi_id, kpi_contacts.c.escalation_level)
        .select_from(kpi_contacts.join(contacts))
        .where(kpi_contacts.c.kpi_id.in_(ids), contacts.c.is_active)
        .distinct()
        .order_by(kpi_contacts.c.kpi_id, kpi_contacts.c.escalation_level)
    )
    levels: dict[int, list[int]] = {}
    for kpi_id, level in connection.execute(query):
        levels.setdefault(kpi_id, []).append(level)
    return levels


def contacts_by_id(connection: Connection, contact_ids: Iterable[int]) -> dict[int, Member]:
    """Stored contacts by id (inactive ones too: a retry or a resolved notice still names them)."""
    ids = sorted(set(contact_ids))
    if not ids:
        return {}
    rows = connection.execute(select(*_CONTACT_COLUMNS).where(contacts.c.id.in_(ids))).mappings()
    return {row["id"]: _member(row) for row in rows}


def member_named(connection: Connection, name: str | None) -> Member | None:
    """The active contact called `name` (the administrator contact of the settings)."""
    if not name:
        return None
    row = (
        connection.execute(select(*_CONTACT_COLUMNS).where(contacts.c.name == name, contacts.c.is_active))
        .mappings()
        .first()
    )
    return _member(row) if row is not None else None


def _member(row: RowMapping, *, level: int = 0) -> Member:
    return Member(
        id=row["id"],
        level=level,
        contact=Contact(
            name=row["name"],
            email=row["email"],
            phone=row["phone"],
            teams_webhook=row["teams_webhook"],
            slack_webhook=row["slack_webhook"],
            webhook_url=row["webhook_url"],
        ),
    )


def notified_channels(connection: Connection, alert_id: int) -> dict[int, frozenset[Channel]]:
    """The channels each contact was reached on for any event of the alert."""
    query = (
        select(notifications.c.contact_id, notifications.c.channel)
        .select_from(notifications.join(alert_events, alert_events.c.id == notifications.c.event_id))
        .where(
            alert_events.c.alert_id == alert_id,
            notifications.c.status == DeliveryStatus.SENT.value,
        )
        .distinct()
    )
    reached: dict[int, set[Channel]] = {}
    for contact_id, channel in connection.execute(query):
        reached.setdefault(contact_id, set()).add(Channel(channel))
    return {contact_id: frozenset(channels) for contact_id, channels in reached.items()}


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
