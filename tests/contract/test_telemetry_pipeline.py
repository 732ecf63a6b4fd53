"""The service's instruments, custom events and log correlation ids after a real pipeline run (execution,
delivery, escalation, acknowledgement, resolution) on SQLite, read back through the OpenTelemetry SDK's
in-memory reader and exporter."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from sqlalchemy import Engine, create_engine, text

from shared import telemetry
from shared.db.engine import create_monitoring_engine
from shared.domain.notification import Channel
from shared.messages import execution_message
from shared.notify.base import Notice
from shared.services.alerts.actions import AlertActions
from shared.services.alerts.escalation import EventDispatcher
from shared.services.alerts.processor import AlertProcessor
from shared.services.execution import Executor
from shared.services.execution_messages import ExecutionMessages
from shared.settings import Settings
from shared.sources import SourceRunner
from tests.factories import NOW, Clock, insert_contact, insert_kpi, make_kpi, queue_execution
from tests.telemetry_readers import Metrics, custom_events


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
        # Ops has a phone but no SMS channel is configured here: that delivery is skipped.
        ops = {"email": "ops@example.com", "phone": "+447700900001"}
        insert_contact(connection, "Ops", kpi_id=kpi_id, level=0, **ops)
        insert_contact(connection, "Lead", kpi_id=kpi_id, level=1, email="lead@example.com")
        execution_id = queue_execution(connection, kpi_id, NOW)
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
    assert metrics.value("mgrid.notifications", channel="sms", outcome="skipped") == 1
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


def test_each_alert_opened_by_a_batch_message_carries_its_own_execution_and_kpi_ids(
    logs: InMemoryLogRecordExporter, engine: Engine, source_url: str
) -> None:
    settings = Settings.load()
    clock = Clock(NOW + timedelta(seconds=5))
    with engine.begin() as connection:
        kpi_ids = [
            insert_kpi(connection, make_kpi(indicator=name, sql_text=READINGS), next_run_at=None)
            for name in ("Deposits", "Payouts")
        ]
        execution_ids = [queue_execution(connection, kpi_id, NOW) for kpi_id in kpi_ids]
    runner = SourceRunner({"main": source_url}, pool_size=2, retry_wait_s=0)
    messages = ExecutionMessages(
        engine, Executor(engine, runner, settings, clock=clock), settings, never_deferred, clock=clock
    )
    try:
        messages.handle(execution_message(execution_ids).encode(), owner="test")  # one message, two runs
    finally:
        runner.dispose()

    opened = {(e["kpi"], e["execution_id"], e["kpi_id"]) for e in custom_events(logs)}
    assert opened == {
        ("Deposits", str(execution_ids[0]), kpi_ids[0]),
        ("Payouts", str(execution_ids[1]), kpi_ids[1]),
    }
