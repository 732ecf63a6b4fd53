"""The service's instruments, custom events and log correlation ids, read back through the OpenTelemetry
SDK's in-memory reader and exporter: after each record function, and after a real pipeline run (execution,
delivery, escalation, acknowledgement, resolution) on SQLite."""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from sqlalchemy import Engine, create_engine, text

from shared import telemetry
from shared.db.engine import create_monitoring_engine
from shared.db.tables import kpi_executions
from shared.domain.health import CheckResult, HealthReport, HealthStatus
from shared.domain.notification import Channel
from shared.messages import execution_message
from shared.notify.base import Notice
from shared.services.alert_actions import AlertActions
from shared.services.alert_processor import AlertProcessor
from shared.services.dispatch import ExecutionMessages
from shared.services.escalation import EventDispatcher
from shared.services.execution import Executor
from shared.settings import Settings
from shared.sources import SourceRunner
from tests.factories import NOW, Clock, insert_contact, insert_kpi, make_kpi

Attributes = frozenset[tuple[str, Any]]


class Metrics:
    """The metric points an in-memory reader collected, by instrument name and attributes."""

    def __init__(self, reader: InMemoryMetricReader) -> None:
        self._reader = reader

    def points(self, name: str) -> dict[Attributes, Any]:
        data = self._reader.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        return {frozenset(p.attributes.items()): p for p in metric.data.data_points}
        return {}

    def value(self, name: str, **attributes: Any) -> Any:
        return self.points(name)[frozenset(attributes.items())].value


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    with telemetry.recording_to(provider):
        yield Metrics(reader)
    provider.shutdown()


@pytest.fixture
def logs() -> Iterator[InMemoryLogRecordExporter]:
    """The records of the `mgrid` loggers, exported as the Azure Monitor distro's logging handler does."""
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(logger_provider=provider)
    handler.addFilter(telemetry.ContextFilter())
    logger = logging.getLogger(telemetry.LOGGER_NAME)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield exporter
    logger.removeHandler(handler)
    logger.setLevel(level)
    provider.shutdown()


def custom_events(exporter: InMemoryLogRecordExporter) -> list[dict[str, Any]]:
    found = [dict(log.log_record.attributes or {}) for log in exporter.get_finished_logs()]
    return [attributes for attributes in found if telemetry.CUSTOM_EVENT_ATTRIBUTE in attributes]


def test_executions_are_counted_by_outcome_and_timed(metrics: Metrics) -> None:
    telemetry.record_execution(kpi="Deposits", outcome="succeeded", duration_ms=120)
    telemetry.record_execution(kpi="Deposits", outcome="succeeded", duration_ms=80)
    telemetry.record_execution(kpi="Deposits", outcome="failed", duration_ms=None)

    assert metrics.value("mgrid.kpi.executions", kpi="Deposits", outcome="succeeded") == 2
    assert metrics.value("mgrid.kpi.executions", kpi="Deposits", outcome="failed") == 1
    duration = metrics.points("mgrid.kpi.execution.duration")
    assert list(duration) == [frozenset({("kpi", "Deposits"), ("outcome", "succeeded")})]
    point = next(iter(duration.values()))
    assert (point.count, point.sum, point.min, point.max) == (2, 200, 80, 120)


def test_deviations_are_recorded_per_metric_and_undefined_ones_are_left_out(metrics: Metrics) -> None:
    telemetry.record_deviation(kpi="Deposits", metric_key="card", deviation_percent=-50.5)
    telemetry.record_deviation(kpi="Deposits", metric_key="card", deviation_percent=-20)
    telemetry.record_deviation(kpi="Deposits", metric_key="card", deviation_percent=10)
    telemetry.record_deviation(kpi="Deposits", metric_key="flat", deviation_percent=0)
    telemetry.record_deviation(kpi="Deposits", metric_key="zero", deviation_percent=float("inf"))
    telemetry.record_deviation(kpi="Deposits", metric_key="none", deviation_percent=None)

    points = {
        (dict(a)["metric_key"], dict(a)["direction"]): (p.count, p.sum)
        for a, p in metrics.points("mgrid.kpi.deviation").items()
    }
    assert points == {("card", "down"): (2, 70.5), ("card", "up"): (1, 10), ("flat", "none"): (1, 0)}


def test_an_alert_transition_is_counted_and_sent_as_a_custom_event(
    metrics: Metrics, logs: InMemoryLogRecordExporter
) -> None:
    telemetry.record_alert_transition(
        transition="opened", severity="critical", alert_id=7, kpi="Deposits", metric_key="card"
    )
    telemetry.record_alert_transition(
        transition="escalated", severity="critical", alert_id=7, kpi="Deposits", metric_key="card"
    )
    telemetry.record_alert_transition(
        transition="resolved", severity="warning", alert_id=8, kpi=None, metric_key="queues"
    )

    transitions = "mgrid.alerts.transitions"
    assert metrics.value(transitions, transition="opened", severity="critical") == 1
    assert metrics.value(transitions, transition="escalated", severity="critical") == 1
    assert metrics.value(transitions, transition="resolved", severity="warning") == 1
    events = custom_events(logs)
    assert [e[telemetry.CUSTOM_EVENT_ATTRIBUTE] for e in events] == [
        "AlertOpened",
        "AlertEscalated",
        "AlertResolved",
    ]
    assert events[0] | {"severity": "critical"} == {
        telemetry.CUSTOM_EVENT_ATTRIBUTE: "AlertOpened",
        "transition": "opened",
        "severity": "critical",
        "alert_id": 7,
        "kpi": "Deposits",
        "metric_key": "card",
    }
    assert events[2]["kpi"] == ""


def test_notifications_health_and_cleanup_record_their_values(metrics: Metrics) -> None:
    telemetry.record_notification(channel="email", outcome="sent")
    telemetry.record_notification(channel="email", outcome="sent")
    telemetry.record_notification(channel="sms", outcome="failed")
    checks = (
        CheckResult(name="database", status=HealthStatus.HEALTHY, duration_ms=1.0),
        CheckResult(name="queues", status=HealthStatus.DEGRADED, duration_ms=1.0),
        CheckResult(name="kpi-execution", status=HealthStatus.UNHEALTHY, duration_ms=1.0),
    )
    telemetry.record_health(HealthReport(checks=checks))
    telemetry.record_health(HealthReport(checks=(checks[0], checks[2])))
    telemetry.record_cleanup({"historical_data": 5000, "kpi_executions": 12, "alerts": 0})
    telemetry.record_cleanup({"historical_data": 1})

    assert metrics.value("mgrid.notifications", channel="email", outcome="sent") == 2
    assert metrics.value("mgrid.notifications", channel="sms", outcome="failed") == 1
    assert {dict(a)["check"]: p.value for a, p in metrics.points("mgrid.health.status").items()} == {
        "database": 0,
        "queues": 1,
        "kpi-execution": 2,
    }
    assert {dict(a)["table"]: p.value for a, p in metrics.points("mgrid.cleanup.rows").items()} == {
        "historical_data": 5001,
        "kpi_executions": 12,
    }


def test_log_records_carry_the_ids_of_their_context(logs: InMemoryLogRecordExporter) -> None:
    log = logging.getLogger("mgrid.executor")
    execution_id = uuid.uuid4()
    telemetry.bind_log_context(kpi_id=1)  # outside any context: nothing to bind to
    with telemetry.log_context(invocation_id="inv-1"):
        with telemetry.log_context(execution_id=execution_id, alert_id=None):
            telemetry.bind_log_context(kpi_id=3)
            log.info("inside")
            log.info("own value", extra={"kpi_id": 99})
        log.info("outer")
    log.info("outside")

    found = {log.log_record.body: dict(log.log_record.attributes or {}) for log in logs.get_finished_logs()}
    ids = {
        body: {name: value for name, value in attributes.items() if name in telemetry.CONTEXT_IDS}
        for body, attributes in found.items()
    }
    assert ids == {
        "inside": {"invocation_id": "inv-1", "execution_id": str(execution_id), "kpi_id": 3},
        "own value": {"invocation_id": "inv-1", "execution_id": str(execution_id), "kpi_id": 99},
        "outer": {"invocation_id": "inv-1"},
        "outside": {},
    }
    assert telemetry.current_log_context() == {}


@dataclass
class Mailbox:
    """An email channel that keeps what it is given."""

    sent: list[tuple[str, Notice]] = field(default_factory=list)

    def send(self, notice: Notice, address: str) -> None:
        self.sent.append((address, notice))


@pytest.fixture
def engine(sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    shutil.copyfile(sqlite_template, tmp_path / "monitoring.db")
    engine = create_monitoring_engine(f"sqlite:///{tmp_path}/monitoring.db")
    yield engine
    engine.dispose()


@pytest.fixture
def source_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/source.db"
    source = create_engine(url)
    with source.begin() as connection:
        connection.execute(text("CREATE TABLE readings (k VARCHAR(20), v INTEGER)"))
        connection.execute(text("INSERT INTO readings VALUES ('ok', 110), ('low', 50)"))
    source.dispose()
    return url


READINGS = "SELECT k AS key, v AS current_value, 100 AS historical_value FROM readings"


def never_deferred() -> Any:
    pytest.fail("no execution is deferred here, so nothing is sent to a queue")


def test_a_pipeline_run_records_executions_deviations_deliveries_and_alert_transitions(
    metrics: Metrics, logs: InMemoryLogRecordExporter, engine: Engine, source_url: str
) -> None:
    settings = Settings.load()
    clock = Clock(NOW + timedelta(seconds=5))
    mailbox = Mailbox()
    with engine.begin() as connection:
        kpi_id = insert_kpi(connection, make_kpi(sql_text=READINGS), next_run_at=None)
        insert_contact(connection, "Ops", kpi_id=kpi_id, level=0, email="ops@example.com")
        insert_contact(connection, "Lead", kpi_id=kpi_id, level=1, email="lead@example.com")
        execution_id = uuid.uuid4()
        connection.execute(
            kpi_executions.insert().values(
                id=execution_id,
                kpi_id=kpi_id,
                slot=NOW,
                triggered_by="scheduled",
                status="queued",
                created_at=NOW,
                enqueued_at=NOW,
            )
        )
    runner = SourceRunner({"main": source_url}, pool_size=1, retry_wait_s=0)
    executor = Executor(engine, runner, settings, clock=clock)
    messages = ExecutionMessages(engine, executor, settings, never_deferred, clock=clock)
    dispatcher = EventDispatcher(
        engine, settings, lambda: {Channel.EMAIL: mailbox}, clock=clock, retry_wait_s=0
    )
    try:
        reports = messages.handle(execution_message(execution_id).encode(), owner="test")
        assert reports is not None
        (report,) = reports
        assert report.status == "succeeded"
        alert_id = report.transitions[0].alert_id
        dispatcher.dispatch_now([event.event_id for event in report.events])
        clock.now += timedelta(minutes=settings.worker.alert_processing.escalation_timeout_minutes + 1)
        assert AlertProcessor(engine, settings, dispatcher, clock=clock).run().escalated == 1
        actions = AlertActions(engine, clock=clock)
        actions.acknowledge(alert_id, by="alice")
        actions.resolve(alert_id, by="alice")
    finally:
        runner.dispose()

    assert metrics.value("mgrid.kpi.executions", kpi="Deposits", outcome="succeeded") == 1
    assert (
        metrics.points("mgrid.kpi.execution.duration")[
            frozenset({("kpi", "Deposits"), ("outcome", "succeeded")})
        ].count
        == 1
    )
    deviations = {
        (dict(a)["kpi"], dict(a)["metric_key"], dict(a)["direction"]): p.sum
        for a, p in metrics.points("mgrid.kpi.deviation").items()
    }
    assert deviations == {("Deposits", "low", "down"): 50, ("Deposits", "ok", "up"): 10}
    assert metrics.value("mgrid.notifications", channel="email", outcome="sent") == 1
    transitions = {
        dict(a)["transition"]: p.value for a, p in metrics.points("mgrid.alerts.transitions").items()
    }
    assert transitions == {"opened": 1, "escalated": 1, "acknowledged": 1, "resolved": 1}
    assert {dict(a)["severity"] for a in metrics.points("mgrid.alerts.transitions")} == {"critical"}
    events = custom_events(logs)
    assert [e[telemetry.CUSTOM_EVENT_ATTRIBUTE] for e in events] == [
        "AlertOpened",
        "AlertEscalated",
        "AlertAcknowledged",
        "AlertResolved",
    ]
    assert {(e["alert_id"], e["kpi"], e["metric_key"]) for e in events} == {(alert_id, "Deposits", "low")}
    # The execution's own event carries the ids of the message it came from.
    assert events[0]["execution_id"] == str(execution_id)
    assert events[0]["kpi_id"] == kpi_id
    assert "execution_id" not in events[1]
