"""Acknowledging and resolving alerts by hand (`mgrid alerts ack|resolve`, `POST /api/alerts/{id}/...`).

Each is an audited transition: the state change and its event are written in one transaction. Acknowledging
an open alert stops its escalation and its re-notifications; acknowledging it again is a no-op. Resolving
an unresolved alert records a resolved event with an outbox entry, so everyone who was told about the alert
gets the resolved notice; resolving it again is a no-op. Acknowledging a resolved alert is a conflict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from shared import telemetry
from shared.db import alerts
from shared.domain.alert import AlertEventType, AlertStatus, EventRef
from shared.domain.clock import Clock, utc_now
from shared.errors import PermanentError

MAX_ACTOR = 100


class AlertNotFound(PermanentError, LookupError):
    def __init__(self, alert_id: int) -> None:
        self.alert_id = alert_id
        super().__init__(f"no alert with id {alert_id}")


class AlertConflict(PermanentError):
    """The transition does not apply to the alert's current state."""


class InvalidAction(PermanentError, ValueError):
    """The request itself is wrong (no actor, an actor name too long)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ActionResult:
    """The alert after the action; `changed` is False when it was already in the asked state."""

    alert: dict[str, Any]
    changed: bool
    event: EventRef | None = None

    @property
    def status(self) -> AlertStatus:
        """The alert's status after the action."""
        return AlertStatus(self.alert["status"])

    def as_json(self) -> dict[str, Any]:
        alert = self.alert
        return {
            "id": alert["id"],
            "indicator": alert.get("indicator"),
            "metric_key": alert["metric_key"],
            "status": alert["status"],
            "escalation_level": alert["escalation_level"],
            "acknowledged_by": alert["acknowledged_by"],
            "acknowledged_at": _iso(alert["acknowledged_at"]),
            "resolved_by": alert["resolved_by"],
            "resolved_at": _iso(alert["resolved_at"]),
            "resolution_reason": alert["resolution_reason"],
            "changed": self.changed,
        }


class AlertActions:
    def __init__(self, engine: Engine, *, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def acknowledge(self, alert_id: int, *, by: str, note: str | None = None) -> ActionResult:
        actor = _actor(by)
        now = self._clock()
        with self._engine.begin() as connection:
            if not alerts.acknowledge(connection, alert_id, by=actor, now=now):
                current = self._current(connection, alert_id)
                if current["status"] == AlertStatus.RESOLVED.value:
                    raise AlertConflict(f"alert {alert_id} is resolved: there is nothing to acknowledge")
                return ActionResult(alert=current, changed=False)
            details = {"note": note} if note else {}
            alerts.record_event(
                connection,
                alert_id=alert_id,
                event_type=AlertEventType.ACKNOWLEDGED,
                actor=actor,
                now=now,
                details=details,
            )
            current = self._current(connection, alert_id)
            _record_transition("acknowledged", current)
            return ActionResult(alert=current, changed=True)

    def resolve(self, alert_id: int, *, by: str, reason: str | None = None) -> ActionResult:
        actor = _actor(by)
        now = self._clock()
        why = (reason or "").strip() or f"resolved by {actor}"
        with self._engine.begin() as connection:
            if not alerts.resolve(connection, alert_id, now=now, by=actor, reason=why):
                return ActionResult(alert=self._current(connection, alert_id), changed=False)
            event = alerts.record_event(
                connection,
                alert_id=alert_id,
                event_type=AlertEventType.RESOLVED,
                actor=actor,
                now=now,
                details={"by": actor, "reason": why},
                dispatch=True,
            )
            current = self._current(connection, alert_id)
            _record_transition("resolved", current)
            return ActionResult(alert=current, changed=True, event=event)

    @staticmethod
    def _current(connection: Connection, alert_id: int) -> dict[str, Any]:
        alert = alerts.get_alert(connection, alert_id)
        if alert is None:
            raise AlertNotFound(alert_id)
        return alert


def _record_transition(transition: str, alert: dict[str, Any]) -> None:
    telemetry.record_alert_transition(
        transition=transition,
        severity=str(alert["severity"]),
        alert_id=int(alert["id"]),
        kpi=alert.get("indicator"),
        metric_key=str(alert["metric_key"]),
    )


def _actor(by: str) -> str:
    actor = " ".join(str(by or "").split())
    if not actor:
        raise InvalidAction('say who is acting: --by NAME (HTTP: a non-empty "by")')
    if len(actor) > MAX_ACTOR:
        raise InvalidAction(f"the name of who is acting is longer than {MAX_ACTOR} characters")
    return actor


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
