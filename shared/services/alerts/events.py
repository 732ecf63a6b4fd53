"""Handling the messages of the `alert-events` queues: dispatch the event, or record why not.

A malformed message, or one naming an event that does not exist, is recorded in `dead_letters` and dropped:
retrying cannot help. A message that failed every attempt reaches `alert-events-poison`: it is recorded, and
a delivery-failed event on its alert tells the administrator contact (`Notifications__AdminContact`), so no
alert disappears silently. The event's outbox entry stays undispatched, so the alert processor still
delivers it once the cause is gone.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from shared import telemetry
from shared.db import alerts, event_context
from shared.domain.alert import AlertEventType, EventRef
from shared.domain.clock import Clock, utc_now
from shared.errors import InvalidMessage
from shared.messages import ALERT_EVENTS, parse_alert_event_message
from shared.services.alerts.escalation import DispatchReport, EventDispatcher
from shared.services.dead_letters import DeadLetters
from shared.settings import Settings

log = logging.getLogger("mgrid.alert_events")
POISON_QUEUE = f"{ALERT_EVENTS}-poison"


class AlertEventMessages:
    """The `alert-events` and `alert-events-poison` handlers' logic."""

    def __init__(
        self,
        engine: Engine,
        dispatcher: EventDispatcher,
        settings: Settings,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self._engine = engine
        self._dispatcher = dispatcher
        self._admin = settings.notifications.admin_contact
        self._clock = clock
        self._dead_letters = DeadLetters(engine, clock)

    def handle(
        self, body: bytes, *, message_id: str | None = None, dequeue_count: int | None = None
    ) -> DispatchReport | None:
        """Deliver the event the message names; None when the message was invalid (and recorded)."""
        try:
            message = parse_alert_event_message(body)
        except InvalidMessage as error:
            self._dead_letters.record(ALERT_EVENTS, str(error), body, message_id, dequeue_count)
            return None
        with telemetry.log_context(event_id=message.event_id, alert_id=message.alert_id):
            report = self._dispatcher.dispatch(message.event_id)
        if report.missing:
            reason = f"alert event {message.event_id} does not exist (its alert or KPI was deleted)"
            self._dead_letters.record(ALERT_EVENTS, reason, body, message_id, dequeue_count)
        return report

    def poisoned(
        self, body: bytes, *, message_id: str | None = None, dequeue_count: int | None = None
    ) -> list[EventRef]:
        """Record the lost message and tell the administrator about its alert."""
        reason = "the message failed on every attempt and was moved to the poison queue"
        self._dead_letters.record(POISON_QUEUE, reason, body, message_id, dequeue_count)
        try:
            message = parse_alert_event_message(body, queue=POISON_QUEUE)
        except InvalidMessage:
            return []
        now = self._clock()
        with self._engine.begin() as connection:
            context = event_context.load(connection, message.event_id)
            if context is None:
                return []
            # A lost notice of a failure is not announced again: that could loop.
            announce = bool(self._admin) and context.event.event_type is not AlertEventType.DELIVERY_FAILED
            event = alerts.record_event(
                connection,
                alert_id=context.alert_id,
                event_type=AlertEventType.DELIVERY_FAILED,
                actor="system",
                now=now,
                details={"failed_event_id": message.event_id, "error": reason},
                dispatch=announce,
            )
        if not announce:
            log.error("alert event %s poisoned; no administrator contact to tell", message.event_id)
        return [event] if event is not None else []
