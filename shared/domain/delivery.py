"""What delivering an alert event works with: the event as its notice shows it, one delivery row, and the
priority a notice carries."""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain.alert import AlertStatus, Severity
from shared.domain.alert_text import AlertFacts, EventFacts
from shared.domain.kpi import Priority
from shared.domain.notification import Channel


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
    """One delivery of an event to a contact through a channel (a row of `notifications`)."""

    id: int
    event_id: int
    contact_id: int
    channel: Channel
    attempts: int


def notice_priority(priority: Priority | None, severity: Severity) -> Priority:
    """The priority a notice is sent with: its KPI's, or, for an alert without a KPI (a system alert), the
    one its severity implies."""
    if priority is not None:
        return priority
    return Priority.CRITICAL if severity is Severity.CRITICAL else Priority.WARNING
