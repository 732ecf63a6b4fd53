"""The alerting functions: escalation (alert-events), its poison handler and the processor timer.
Acknowledge and resolve over HTTP are routes of the management API (`shared.triggers.api`)."""

from __future__ import annotations

import logging
import typing

import azure.functions as func

from shared import runtime
from shared.messages import ALERT_EVENTS, alert_event_message

log = logging.getLogger("mgrid.triggers.alerts")
bp = func.Blueprint()  # type: ignore[no-untyped-call]  # the library leaves __init__ unannotated
STORAGE = "AzureWebJobsStorage"


@bp.function_name("alert_escalation")
@bp.queue_trigger(arg_name="msg", queue_name=ALERT_EVENTS, connection=STORAGE)
@bp.queue_output(arg_name="alert_events", queue_name=ALERT_EVENTS, connection=STORAGE)
def alert_escalation(msg: func.QueueMessage, alert_events: func.Out[typing.List[str]]) -> None:
    report = runtime.alert_event_messages().handle(
        msg.get_body(), message_id=msg.id, dequeue_count=msg.dequeue_count
    )
    if report is not None:
        log.info("alert events %s delivered: %s", report.event_ids, report.summary())
        alert_events.set([alert_event_message(event) for event in report.events])


@bp.function_name("alert_events_poison")
@bp.queue_trigger(arg_name="msg", queue_name=f"{ALERT_EVENTS}-poison", connection=STORAGE)
@bp.queue_output(arg_name="alert_events", queue_name=ALERT_EVENTS, connection=STORAGE)
def alert_events_poison(msg: func.QueueMessage, alert_events: func.Out[typing.List[str]]) -> None:
    events = runtime.alert_event_messages().poisoned(
        msg.get_body(), message_id=msg.id, dequeue_count=msg.dequeue_count
    )
    alert_events.set([alert_event_message(event) for event in events])


@bp.function_name("alert_processor")
@bp.timer_trigger(
    schedule="%Worker:AlertProcessing:Schedule%", arg_name="timer", run_on_startup=False, use_monitor=True
)
@bp.queue_output(arg_name="alert_events", queue_name=ALERT_EVENTS, connection=STORAGE)
def alert_processor(timer: func.TimerRequest, alert_events: func.Out[typing.List[str]]) -> None:
    report = runtime.alert_processor().run()
    log.info("alert processor: %s", report.summary())
    alert_events.set([alert_event_message(event) for event in report.events])
