"""One pass of the alert processor (the `alert_processor` timer, `mgrid alerts process`).

Steps, each in batches of `Worker__AlertProcessing__BatchSize`, each batch one short transaction over rows
selected through an index (never a scan of all alerts), each independent of the others' failure:
0. notify, once, the open alerts whose last silence ended (`shared.services.alerts.silencing`);
1. escalate open, unacknowledged alerts whose `next_escalation_at` has passed to the next level that has
   contacts (an escalated event with an outbox entry); with no higher level, escalation ends; an alert a
   silence covers waits instead, until the silence ends plus the escalation timeout;
2. resolve unresolved KPI alerts whose key their KPI has not evaluated for three of its periods and then
   `AutoResolutionTimeoutMinutes` (`stale_at`; a resolved event): a deactivated KPI, a key that stopped
   reporting, never a daily KPI's alert between two runs;
3. deliver outbox entries that `alert_escalation` has not dispatched within `OutboxGraceSeconds` (a lost or
   poisoned message), here and now, through the same dispatcher;
4. retry deliveries whose retry time has come;
5. write the processor's heartbeat.
Rows are locked with SKIP LOCKED and changed with conditional UPDATEs, so two processors at once (a late timer
and a CLI run) do each change once. The events created are returned for dispatch to `alert-events`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from shared import telemetry
from shared.db import alerts, outbox, recipients
from shared.db.alerts import DueAlert
from shared.db.status import heartbeat
from shared.domain.alert import SYSTEM_ACTOR, AlertEventType, EventRef
from shared.domain.clock import Clock, utc_now
from shared.services.alerts import silencing
from shared.services.alerts.escalation import EventDispatcher
from shared.settings import Settings

log = logging.getLogger("mgrid.alert_processor")
COMPONENT = "alert_processor"
#: Batches per step and pass: a backlog larger than this waits for the next pass rather than stretching one.
MAX_BATCHES = 20


@dataclass(kw_only=True, slots=True)
class ProcessorReport:
    """What one pass did. `events` must be dispatched to `alert-events` by the caller."""

    escalated: int = 0
    escalation_ended: int = 0
    escalation_held: int = 0  #: due alerts a silence covers: their escalation waits for its end
    silence_ends: int = 0  #: silence ends handled
    unsilenced: int = 0  #: alerts notified because the last silence over them ended
    auto_resolved: int = 0
    redispatched: int = 0
    retried: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    events: list[EventRef] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "escalated": self.escalated,
            "escalation_ended": self.escalation_ended,
            "escalation_held": self.escalation_held,
            "silence_ends": self.silence_ends,
            "unsilenced": self.unsilenced,
            "auto_resolved": self.auto_resolved,
            "redispatched": self.redispatched,
            "retried": self.retried,
            "errors": self.errors,
        }


class AlertProcessor:
    """See the module's contract."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        dispatcher: EventDispatcher,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self._engine = engine
        self._settings = settings.worker.alert_processing
        self._max_attempts = settings.notifications.max_delivery_attempts
        self._dispatcher = dispatcher
        self._clock = clock

    def run(self) -> ProcessorReport:
        report = ProcessorReport()
        steps: list[tuple[str, Callable[[ProcessorReport], None]]] = [
            ("silence ends", self._silence_ends),
            ("escalation", self._escalate),
            ("auto-resolution", self._auto_resolve),
            ("outbox", self._redispatch),
            ("retries", self._retry),
        ]
        for name, step in steps:
            try:
                step(report)
            except Exception as error:  # one failing step must not stop the others
                log.exception("alert processor step %s failed", name)
                report.errors.append(f"{name}: {type(error).__name__}: {error}")
        with self._engine.begin() as connection:
            status = "error" if report.errors else "ok"
            heartbeat(connection, COMPONENT, status=status, now=self._clock(), details=report.summary())
        return report

    def _escalate(self, report: ProcessorReport) -> None:
        if not self._settings.enable_escalation:
            return
        for connection, due in self._batches(
            lambda c, now: alerts.due_escalations(c, now=now, limit=self._batch)
        ):
            now = self._clock()
            levels = recipients.linked_levels(connection, {a.kpi_id for a in due if a.kpi_id is not None})
            timeout = timedelta(minutes=self._settings.escalation_timeout_minutes)
            next_at = now + timeout
            held = silencing.hold_escalations(connection, due, now=now, timeout=timeout)
            report.escalation_held += len(held)
            for alert in (alert for alert in due if alert.id not in held):
                higher = [
                    level for level in levels.get(alert.kpi_id or -1, []) if level > alert.escalation_level
                ]
                to_level = higher[0] if higher else None
                if not alerts.escalate(connection, alert, to_level=to_level, next_at=next_at):
                    continue
                if to_level is None:
                    report.escalation_ended += 1
                    continue
                report.escalated += 1
                _record_transition(connection, alert, "escalated")
                minutes = self._settings.escalation_timeout_minutes
                event = alerts.record_event(
                    connection,
                    alert_id=alert.id,
                    event_type=AlertEventType.ESCALATED,
                    actor=SYSTEM_ACTOR,
                    now=now,
                    details={
                        "metric_key": alert.metric_key,
                        "from_level": alert.escalation_level,
                        "to_level": to_level,
                        "reason": f"not acknowledged within {minutes} min",
                    },
                    dispatch=True,
                )
                report.events.append(_required(event))

    def _silence_ends(self, report: ProcessorReport) -> None:
        """Notify, once, the open alerts whose last silence ended (see `shared.services.alerts.silencing`)."""
        minutes = self._settings.escalation_timeout_minutes
        timeout = timedelta(minutes=minutes) if self._settings.enable_escalation else None
        seen: set[int] = set()
        for _ in range(MAX_BATCHES):
            with self._engine.begin() as connection:
                done = silencing.handle_ends(
                    connection, now=self._clock(), limit=self._batch, timeout=timeout, seen=seen
                )
            report.silence_ends += done.silences
            report.unsilenced += len(done.notified)
            report.events += done.events
            if done.silences < self._batch:
                return

    def _auto_resolve(self, report: ProcessorReport) -> None:
        if not self._settings.enable_auto_resolution:
            return
        minutes = self._settings.auto_resolution_timeout_minutes

        def select(connection: Connection, now: datetime) -> list[DueAlert]:
            before = now - timedelta(minutes=minutes)
            return alerts.stale_alerts(connection, stale_before=before, limit=self._batch)

        reason = f"not evaluated for three periods and {minutes} min"
        for connection, due in self._batches(select):
            now = self._clock()
            for alert in due:
                if not alerts.resolve(connection, alert.id, now=now, by=SYSTEM_ACTOR, reason=reason):
                    continue
                report.auto_resolved += 1
                _record_transition(connection, alert, "resolved")
                event = alerts.record_event(
                    connection,
                    alert_id=alert.id,
                    event_type=AlertEventType.RESOLVED,
                    actor=SYSTEM_ACTOR,
                    now=now,
                    details={"metric_key": alert.metric_key, "reason": reason},
                    dispatch=True,
                )
                report.events.append(_required(event))

    def _redispatch(self, report: ProcessorReport) -> None:
        grace = timedelta(seconds=self._settings.outbox_grace_seconds)
        with self._engine.begin() as connection:
            waiting = outbox.undispatched(connection, created_before=self._clock() - grace, limit=self._batch)
        for event, attempts in waiting:
            if attempts >= self._max_attempts:
                self._give_up(event, attempts)
                continue
            try:
                dispatched = self._dispatcher.dispatch(event.event_id)
            except Exception as error:
                log.exception("alert event %s could not be dispatched", event.event_id)
                with self._engine.begin() as connection:
                    outbox.count_dispatch_attempt(connection, event.event_id)
                report.errors.append(f"outbox event {event.event_id}: {type(error).__name__}: {error}")
                continue
            report.redispatched += 1
            report.events += dispatched.events

    def _give_up(self, event: EventRef, attempts: int) -> None:
        """An outbox entry that failed every dispatch: stop trying, and say so in the audit trail."""
        log.error("alert event %s abandoned after %d dispatch attempts", event.event_id, attempts)
        with self._engine.begin() as connection:
            outbox.mark_dispatched(connection, event.event_id, now=self._clock())
            alerts.record_event(
                connection,
                alert_id=event.alert_id,
                event_type=AlertEventType.DELIVERY_FAILED,
                actor=SYSTEM_ACTOR,
                now=self._clock(),
                details={"failed_event_id": event.event_id, "error": f"dispatch failed {attempts} times"},
            )

    def _retry(self, report: ProcessorReport) -> None:
        retried = self._dispatcher.retry_due(limit=self._batch)
        report.retried = retried.summary()
        report.events += retried.events

    @property
    def _batch(self) -> int:
        return self._settings.batch_size

    def _batches(
        self, select: Callable[[Connection, datetime], list[DueAlert]]
    ) -> Iterator[tuple[Connection, list[DueAlert]]]:
        """Transactions of one selected batch each, until a batch comes back short (or MAX_BATCHES)."""
        for _ in range(MAX_BATCHES):
            with self._engine.begin() as connection:
                due = select(connection, self._clock())
                if due:
                    yield connection, due
            if len(due) < self._batch:
                return


def _record_transition(connection: Connection, alert: DueAlert, transition: str) -> None:
    """Count the transition with the alert's severity and KPI (one primary-key read)."""
    row = alerts.get_alert(connection, alert.id) or {}
    telemetry.record_alert_transition(
        transition=transition,
        severity=str(row.get("severity", "")),
        alert_id=alert.id,
        kpi=row.get("indicator"),
        metric_key=alert.metric_key,
    )


def _required(event: EventRef | None) -> EventRef:
    if event is None:
        raise RuntimeError("an event recorded with dispatch=True has an outbox entry")
    return event
