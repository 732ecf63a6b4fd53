"""The alerting functions: escalation (alert-events), its poison handler, the processor timer, and
acknowledge / resolve over HTTP (function key)."""

from __future__ import annotations

import json
import logging
import typing
from collections.abc import Callable

import azure.functions as func

from shared import runtime
from shared.messages import ALERT_EVENTS, alert_event_message
from shared.services.alert_actions import ActionResult, AlertConflict, AlertNotFound

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
    schedule="%AlertProcessorSchedule%", arg_name="timer", run_on_startup=False, use_monitor=True
)
@bp.queue_output(arg_name="alert_events", queue_name=ALERT_EVENTS, connection=STORAGE)
def alert_processor(timer: func.TimerRequest, alert_events: func.Out[typing.List[str]]) -> None:
    report = runtime.alert_processor().run()
    log.info("alert processor: %s", report.summary())
    alert_events.set([alert_event_message(event) for event in report.events])


@bp.function_name("alert_acknowledge")
@bp.route(route="alerts/{alert_id:int}/acknowledge", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.queue_output(arg_name="alert_events", queue_name=ALERT_EVENTS, connection=STORAGE)
def alert_acknowledge(req: func.HttpRequest, alert_events: func.Out[typing.List[str]]) -> func.HttpResponse:
    return _act(
        req,
        alert_events,
        lambda alert_id, by, text: runtime.alert_actions().acknowledge(alert_id, by=by, note=text),
    )


@bp.function_name("alert_resolve")
@bp.route(route="alerts/{alert_id:int}/resolve", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.queue_output(arg_name="alert_events", queue_name=ALERT_EVENTS, connection=STORAGE)
def alert_resolve(req: func.HttpRequest, alert_events: func.Out[typing.List[str]]) -> func.HttpResponse:
    return _act(
        req,
        alert_events,
        lambda alert_id, by, text: runtime.alert_actions().resolve(alert_id, by=by, reason=text),
    )


Action = Callable[[int, str, str | None], ActionResult]


def _act(
    req: func.HttpRequest, alert_events: func.Out[typing.List[str]], action: Action
) -> func.HttpResponse:
    """Run the action for `{"by": NAME, "note"|"reason": TEXT}` and answer with the alert as JSON."""
    try:
        raw_id = req.route_params.get("alert_id", "")
        if not raw_id.isdigit():
            raise ValueError(f"the alert id must be a whole number, got {raw_id!r}")
        alert_id = int(raw_id)
        body = req.get_json() if req.get_body() else {}
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        by = str(body.get("by") or req.params.get("by") or "")
        text = body.get("note") or body.get("reason")
        result = action(alert_id, by, str(text) if text else None)
    except AlertNotFound as error:
        return _json({"error": str(error)}, 404)
    except AlertConflict as error:
        return _json({"error": str(error)}, 409)
    except ValueError as error:
        return _json({"error": str(error)}, 400)
    alert_events.set([alert_event_message(result.event)] if result.event else [])
    return _json(result.as_json(), 200)


def _json(document: object, status: int) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(document), status_code=status, mimetype="application/json")
