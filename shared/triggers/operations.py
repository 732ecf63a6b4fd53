"""The operations functions: the cleanup and maintenance timers, the health_check timer (the service watching
itself) and `GET /api/metrics` (function key)."""

from __future__ import annotations

import logging
import typing
from datetime import UTC, datetime

import azure.functions as func

from shared import runtime, telemetry
from shared.messages import ALERT_EVENTS, alert_event_message
from shared.services.metrics import CONTENT_TYPE, render_metrics
from shared.settings import get_settings

log = logging.getLogger("mgrid.triggers.operations")
bp = func.Blueprint()  # type: ignore[no-untyped-call]  # the library leaves __init__ unannotated
STORAGE = "AzureWebJobsStorage"


@bp.function_name("cleanup")
@bp.timer_trigger(
    schedule="%CleanupSchedule%",
    arg_name="timer",
    run_on_startup=False,
    use_monitor=True,
)
def cleanup(timer: func.TimerRequest) -> None:
    report = runtime.cleanup().run()
    telemetry.record_cleanup(report.deleted)
    log.info("cleanup: %s", report.summary())


@bp.function_name("maintenance")
@bp.timer_trigger(
    schedule="%MaintenanceSchedule%",
    arg_name="timer",
    run_on_startup=False,
    use_monitor=True,
)
def maintenance(timer: func.TimerRequest) -> None:
    report = runtime.maintenance().run()
    log.log(logging.ERROR if report.failed else logging.INFO, "maintenance: %s", report.summary())


@bp.function_name("health_check")
@bp.timer_trigger(schedule="%HealthCheckSchedule%", arg_name="timer", run_on_startup=False, use_monitor=True)
@bp.queue_output(arg_name="alert_events", queue_name=ALERT_EVENTS, connection=STORAGE)
def health_check(timer: func.TimerRequest, alert_events: func.Out[typing.List[str]]) -> None:
    monitored = runtime.health_monitor().run()
    telemetry.record_health(monitored.report)
    log.info("health: %s", monitored.summary())
    alert_events.set([alert_event_message(event) for event in monitored.events])


@bp.function_name("metrics")
@bp.route(route="metrics", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def metrics(req: func.HttpRequest) -> func.HttpResponse:
    body = render_metrics(runtime.monitoring_engine(), now=datetime.now(UTC), settings=get_settings())
    return func.HttpResponse(body, status_code=200, headers={"Content-Type": CONTENT_TYPE})
