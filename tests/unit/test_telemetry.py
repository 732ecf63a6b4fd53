"""The service's instruments, custom events and log correlation ids, read back through the OpenTelemetry
SDK's in-memory reader and exporter after each record function (after a real pipeline run:
tests/contract/test_telemetry_pipeline.py)."""

from __future__ import annotations

import logging
import uuid

from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter

from shared import telemetry
from shared.domain.health import CheckResult, HealthReport, HealthStatus
from tests.telemetry_readers import Metrics, custom_events


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
