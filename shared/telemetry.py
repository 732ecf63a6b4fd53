"""Telemetry: every OpenTelemetry instrument of the service, alert transitions as custom events, correlation
ids on log records, and the one switch that exports all of it to Application Insights.

Services call the small `record_*` functions; the instruments behind them are created once, from the global
meter provider (a proxy until one is configured, which then takes over the instruments already created), or
from the provider a test installs with `recording_to`. Alert transitions are also logged on `mgrid.events`
with the attribute `microsoft.custom_event.name`, which the Azure Monitor exporter turns into a customEvents
row. Log records carry `invocation_id`, `execution_id`, `kpi_id`, `alert_id` and `event_id` while a
`log_context` names them: `ContextFilter`, installed by `configure` on the handlers of the `mgrid` and root
loggers, copies them onto each record (OpenTelemetry's logging handler exports them as custom dimensions).

`configure(settings)` calls `configure_azure_monitor` at most once per process, and only when
`APPLICATIONINSIGHTS_CONNECTION_STRING` is set and nobody configured OpenTelemetry before: not the Functions
worker (`PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY` makes it call `configure_azure_monitor` itself;
`PYTHON_ENABLE_OPENTELEMETRY` means the operator set up their own pipeline), and no earlier SDK provider.
A second setup would export everything twice. Nothing here does I/O at import.

With local authentication disabled on the Application Insights component, ingestion needs an Entra ID token:
when `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` asks for it (`Authorization=AAD`, with `ClientId=<client id>`
for a user-assigned identity), `configure` passes the managed identity credential to the exporter itself,
whatever the exporter version reads from the environment. Each `mgrid` log record takes one path: once the
exporter sends the `mgrid` logger tree, that tree stops propagating to the root logger, whose handler in the
Functions worker forwards records to the host, which would send them to Application Insights again. Other
loggers still reach Application Insights through the host only.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from enum import StrEnum
from typing import TYPE_CHECKING

from opentelemetry import metrics

from shared.telemetry_auth import ingestion_credential

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter, MeterProvider

    from shared.domain.health import HealthReport
    from shared.settings import Settings

METER_NAME = "mgrid"
LOGGER_NAME = "mgrid"
EVENTS_LOGGER_NAME = "mgrid.events"
#: The log record attribute that makes the Azure Monitor exporter send a record as a custom event.
CUSTOM_EVENT_ATTRIBUTE = "microsoft.custom_event.name"
#: The Functions worker's own app settings that turn on its OpenTelemetry setup.
WORKER_TELEMETRY_SETTINGS = ("PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY", "PYTHON_ENABLE_OPENTELEMETRY")
#: The ids a log context may carry, in the names the log records get.
CONTEXT_IDS = ("invocation_id", "execution_id", "kpi_id", "alert_id", "event_id")

_DURATION_BUCKETS_MS = (50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 1800000)
_DEVIATION_BUCKETS = (0, 5, 10, 20, 25, 50, 100, 250, 1000)
_TRUE_LIKE = frozenset({"1", "true", "t", "yes", "y"})  # what the worker's `is_envvar_true` accepts

log = logging.getLogger("mgrid.telemetry")
_events = logging.getLogger(EVENTS_LOGGER_NAME)


class Instruments:
    """Every instrument of the service, created from one meter."""

    def __init__(self, meter: Meter) -> None:
        self.executions = meter.create_counter(
            "mgrid.kpi.executions", unit="{execution}", description="Finished KPI executions by outcome."
        )
        self.execution_duration = meter.create_histogram(
            "mgrid.kpi.execution.duration",
            unit="ms",
            description="Duration of KPI executions, source query included.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS_MS,
        )
        self.deviation = meter.create_histogram(
            "mgrid.kpi.deviation",
            unit="%",
            description="Size of each metric's deviation from its baseline; `direction` gives the sign.",
            explicit_bucket_boundaries_advisory=_DEVIATION_BUCKETS,
        )
        self.alert_transitions = meter.create_counter(
            "mgrid.alerts.transitions", unit="{transition}", description="Alert transitions by kind."
        )
        self.notifications = meter.create_counter(
            "mgrid.notifications", unit="{delivery}", description="Delivery attempts by channel and outcome."
        )
        self.health = meter.create_gauge(
            "mgrid.health.status", description="Health check status: 0 healthy, 1 degraded, 2 unhealthy."
        )
        self.cleanup_rows = meter.create_counter(
            "mgrid.cleanup.rows", unit="{row}", description="Rows deleted by the cleanup timer, by table."
        )


class Setup(StrEnum):
    """What `configure` decided."""

    CONFIGURED = "configured"
    ALREADY_CONFIGURED = "already configured in this process"
    NO_CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING is not set"
    WORKER_TELEMETRY = "the Functions worker exports telemetry itself"
    INVALID = "the connection string was refused"


_lock = threading.Lock()
_instruments: Instruments | None = None
_attempted: Setup | None = None  #: CONFIGURED or INVALID once `configure_azure_monitor` was called
_ids: ContextVar[dict[str, str | int] | None] = ContextVar("mgrid_log_ids", default=None)


def instruments() -> Instruments:
    """The instruments in use: from the global meter provider, unless a test installed its own."""
    global _instruments
    if _instruments is None:
        with _lock:
            if _instruments is None:
                _instruments = Instruments(metrics.get_meter(METER_NAME))
    return _instruments


@contextmanager
def recording_to(provider: MeterProvider) -> Iterator[Instruments]:
    """Record into `provider` (say, one with an `InMemoryMetricReader`) meanwhile; for tests."""
    global _instruments
    previous, _instruments = _instruments, Instruments(provider.get_meter(METER_NAME))
    try:
        yield _instruments
    finally:
        _instruments = previous


def record_execution(*, kpi: str, outcome: str, duration_ms: float | None) -> None:
    """A KPI execution ended (`succeeded`, `failed`, `timed_out`, or `lease_lost`)."""
    attributes = {"kpi": kpi, "outcome": outcome}
    current = instruments()
    current.executions.add(1, attributes)
    if duration_ms is not None:
        current.execution_duration.record(duration_ms, attributes)


def record_deviation(*, kpi: str, metric_key: str, deviation_percent: float | None) -> None:
    """A metric's deviation from its baseline, as its size with `direction` `up`, `down` or `none` (a
    histogram takes no negative values); nothing is recorded without a finite deviation."""
    if deviation_percent is None or not math.isfinite(deviation_percent):
        return
    direction = "up" if deviation_percent > 0 else "down" if deviation_percent < 0 else "none"
    attributes = {"kpi": kpi, "metric_key": metric_key, "direction": direction}
    instruments().deviation.record(abs(deviation_percent), attributes)


def record_alert_transition(
    *, transition: str, severity: str, alert_id: int, kpi: str | None, metric_key: str
) -> None:
    """Count an alert transition (`opened`, `retriggered`, `escalated`, `acknowledged`, `resolved`) and send
    it as the custom event `Alert<Transition>` (`AlertOpened`, `AlertEscalated`, ...)."""
    instruments().alert_transitions.add(1, {"transition": transition, "severity": severity})
    details: dict[str, str | int] = {
        CUSTOM_EVENT_ATTRIBUTE: "Alert" + transition.capitalize(),
        "transition": transition,
        "severity": severity,
        "alert_id": alert_id,
        "kpi": kpi or "",
        "metric_key": metric_key,
    }
    _events.info("alert %s %s (%s, %s)", alert_id, transition, kpi or "system", metric_key, extra=details)


def record_notification(*, channel: str, outcome: str) -> None:
    """A delivery on `channel` ended a round as `sent`, `retrying`, `failed` or `dropped`."""
    instruments().notifications.add(1, {"channel": channel, "outcome": outcome})


def record_health(report: HealthReport) -> None:
    """The status of each check of a health run (0 healthy, 1 degraded, 2 unhealthy)."""
    gauge = instruments().health
    for check in report.checks:
        gauge.set(check.status.rank, {"check": check.name})


def record_cleanup(deleted: Mapping[str, int]) -> None:
    """Rows the cleanup deleted, per table."""
    counter = instruments().cleanup_rows
    for table, rows in deleted.items():
        if rows > 0:
            counter.add(rows, {"table": table})


@contextmanager
def log_context(**ids: object) -> Iterator[None]:
    """Put `ids` (see `CONTEXT_IDS`) on every log record made meanwhile, on top of the enclosing context's."""
    merged = {**(_ids.get() or {}), **_clean(ids)}
    token = _ids.set(merged)
    try:
        yield
    finally:
        _ids.reset(token)


def bind_log_context(**ids: object) -> None:
    """Add `ids` to the innermost `log_context` for the rest of it; nothing happens outside one."""
    current = _ids.get()
    if current is not None:
        current.update(_clean(ids))


def current_log_context() -> dict[str, str | int]:
    """The ids log records get now."""
    return dict(_ids.get() or {})


class ContextFilter(logging.Filter):
    """Copies the current log context's ids onto each record that has no attribute of that name yet."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in (_ids.get() or {}).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


def configure(settings: Settings, *, environ: Mapping[str, str] | None = None) -> Setup:
    """Export to Application Insights if this process should (see the module's contract); cheap to call
    again. Always installs the log context filter and enables `mgrid.events` at Information."""
    global _attempted
    with _lock:
        _install_log_filter()
        if _attempted is not None:
            return Setup.ALREADY_CONFIGURED if _attempted is Setup.CONFIGURED else _attempted
        decision = _decide(settings, os.environ if environ is None else environ)
        if decision is not Setup.CONFIGURED:
            log.debug("Application Insights export not configured here: %s", decision.value)
            return decision
        from azure.monitor.opentelemetry import configure_azure_monitor

        _attempted = Setup.INVALID
        credential = ingestion_credential(os.environ if environ is None else environ)
        try:
            # Live Metrics of a function app come from the Functions host; a second stream adds nothing.
            configure_azure_monitor(
                connection_string=settings.applicationinsights_connection_string,
                logger_name=LOGGER_NAME,
                enable_live_metrics=False,
                **({} if credential is None else {"credential": credential}),
            )
        except ValueError as error:
            log.error("Application Insights export is off: %s", error)
            return Setup.INVALID
        _attempted = Setup.CONFIGURED
        _install_log_filter()  # the handler configure_azure_monitor added to `mgrid`
        logging.getLogger(LOGGER_NAME).propagate = False  # one path per record: see the module's contract
        log.info("Application Insights export configured (logger %s, meter %s)", LOGGER_NAME, METER_NAME)
        return Setup.CONFIGURED


def _decide(settings: Settings, environ: Mapping[str, str]) -> Setup:
    if not settings.applicationinsights_connection_string:
        return Setup.NO_CONNECTION_STRING
    if any(environ.get(name, "").strip().lower() in _TRUE_LIKE for name in WORKER_TELEMETRY_SETTINGS):
        return Setup.WORKER_TELEMETRY
    if _sdk_providers_installed():
        return Setup.ALREADY_CONFIGURED
    return Setup.CONFIGURED


def _sdk_providers_installed() -> bool:
    """Whether some code already installed an OpenTelemetry SDK meter or tracer provider globally."""
    from opentelemetry import trace
    from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider

    return isinstance(metrics.get_meter_provider(), SdkMeterProvider) or isinstance(
        trace.get_tracer_provider(), SdkTracerProvider
    )


def _install_log_filter() -> None:
    logging.getLogger(EVENTS_LOGGER_NAME).setLevel(logging.INFO)
    for logger in (logging.getLogger(LOGGER_NAME), logging.getLogger()):
        for handler in logger.handlers:
            if not any(isinstance(existing, ContextFilter) for existing in handler.filters):
                handler.addFilter(ContextFilter())


def _clean(ids: Mapping[str, object]) -> dict[str, str | int]:
    """Ids as log attribute values: ints stay, anything else (UUIDs) becomes text; None is left out."""
    return {
        name: value if isinstance(value, int) and not isinstance(value, bool) else str(value)
        for name, value in ids.items()
        if value is not None
    }
