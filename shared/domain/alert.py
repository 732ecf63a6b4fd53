"""Alerts: their states, kinds and the events of their audit trail."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

#: Who the audit trail names when the service itself acts (opens, escalates, resolves, tells).
SYSTEM_ACTOR = "system"


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


UNRESOLVED = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)


class AlertKind(StrEnum):
    BREACH = "breach"  #: a KPI value breached its rule
    EXECUTION_FAILURE = "execution_failure"  #: a KPI failed N times in a row
    SYSTEM = "system"  #: self-monitoring (health), not tied to a KPI


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"


class AlertEventType(StrEnum):
    OPENED = "opened"
    RETRIGGERED = "retriggered"
    ESCALATED = "escalated"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    NOTIFIED = "notified"
    DELIVERY_FAILED = "delivery_failed"
    SILENCED = "silenced"  #: a notice held back by a silence (audit only)
    UNSILENCED = "unsilenced"  #: the last silence over a still-open alert ended: its state, notified once


@dataclass(frozen=True, kw_only=True, slots=True)
class EventRef:
    """An alert event that has an outbox entry: it is to be dispatched to `alert-events`."""

    event_id: int
    alert_id: int


@dataclass(frozen=True, kw_only=True, slots=True)
class AlertSummary:
    """One alert of a listing, with its KPI's indicator (None for a system alert)."""

    id: int
    indicator: str | None
    metric_key: str
    kind: AlertKind
    status: AlertStatus
    severity: Severity
    escalation_level: int
    opened_at: datetime
    last_triggered_at: datetime
    resolved_at: datetime | None
    current_value: float | None
    baseline_value: float | None
    deviation_percent: float | None

    def as_json(self) -> dict[str, Any]:
        """The summary as a JSON object (times stay datetimes: the caller chooses their text)."""
        return {
            **asdict(self),
            "kind": self.kind.value,
            "status": self.status.value,
            "severity": self.severity.value,
        }
