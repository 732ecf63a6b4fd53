"""The KPI pipeline's functions: the scheduler timer, the executor and the poison handler of its queue."""

from __future__ import annotations

import logging
import typing
from datetime import UTC, datetime

import azure.functions as func

from shared import runtime
from shared.messages import ALERT_EVENTS, KPI_EXECUTIONS, alert_event_message, execution_message

log = logging.getLogger("mgrid.triggers.pipeline")
bp = func.Blueprint()  # type: ignore[no-untyped-call]  # the library leaves __init__ unannotated
STORAGE = "AzureWebJobsStorage"


@bp.function_name("kpi_scheduler")
@bp.timer_trigger(schedule="%KpiSchedulerSchedule%", arg_name="timer", run_on_startup=False, use_monitor=True)
@bp.queue_output(arg_name="executions", queue_name=KPI_EXECUTIONS, connection=STORAGE)
@bp.queue_output(arg_name="alert_events", queue_name=ALERT_EVENTS, connection=STORAGE)
def kpi_scheduler(
    timer: func.TimerRequest,
    executions: func.Out[typing.List[str]],
    alert_events: func.Out[typing.List[str]],
) -> None:
    if timer.past_due:
        log.warning("kpi_scheduler is running late; missed slots coalesce into one run each")
    report = runtime.scheduler().tick(now=datetime.now(UTC))
    executions.set([execution_message(ids) for ids in report.batches()])
    alert_events.set([alert_event_message(event) for event in report.events])


@bp.function_name("kpi_executor")
@bp.queue_trigger(arg_name="msg", queue_name=KPI_EXECUTIONS, connection=STORAGE)
@bp.queue_output(arg_name="alert_events", queue_name=ALERT_EVENTS, connection=STORAGE)
def kpi_executor(msg: func.QueueMessage, alert_events: func.Out[typing.List[str]]) -> None:
    reports = runtime.execution_messages().handle(
        msg.get_body(), owner=runtime.owner(msg.id), message_id=msg.id, dequeue_count=msg.dequeue_count
    )
    if reports is None:
        return  # invalid: recorded in dead_letters and completed, never retried
    for report in reports:
        log.info("execution %s of %s: %s", report.execution_id, report.kpi, report.status)
    alert_events.set([alert_event_message(event) for report in reports for event in report.events])


@bp.function_name("kpi_executions_poison")
@bp.queue_trigger(arg_name="msg", queue_name=f"{KPI_EXECUTIONS}-poison", connection=STORAGE)
@bp.queue_output(arg_name="alert_events", queue_name=ALERT_EVENTS, connection=STORAGE)
def kpi_executions_poison(msg: func.QueueMessage, alert_events: func.Out[typing.List[str]]) -> None:
    events = runtime.execution_messages().poisoned(
        msg.get_body(), message_id=msg.id, dequeue_count=msg.dequeue_count
    )
    alert_events.set([alert_event_message(event) for event in events])
