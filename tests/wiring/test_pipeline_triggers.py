"""The pipeline's functions called as the host calls them: real `TimerRequest`/`QueueMessage` objects, output
bindings captured, real databases, and Azurite for the delayed re-send."""

from __future__ import annotations

import contextlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest
from azure.storage.queue import QueueClient
from sqlalchemy import create_engine, select, text

from shared.db.tables import alerts, dead_letters, kpi_executions, kpis, source_slots
from shared.domain.kpi import AlertPolicy
from tests.conftest import Database
from tests.factories import insert_kpi, make_kpi
from tests.wiring.bindings import indexed_functions

READINGS = "SELECT 'low' AS key, 50 AS current_value, 100 AS historical_value"


class Out:
    """What the host passes for an output binding."""

    def __init__(self) -> None:
        self.value: Any = None

    def set(self, value: Any) -> None:
        self.value = value

    def get(self) -> Any:
        return self.value


def call(name: str, *args: Any) -> None:
    indexed_functions()[name].get_user_function()(*args)


def message(body: str | bytes, *, dequeue_count: int = 1) -> QueueMessage:
    raw = body.encode() if isinstance(body, str) else body
    return QueueMessage(id=str(uuid.uuid4()), body=raw, dequeue_count=dequeue_count)


@pytest.fixture
def environment(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    source = f"sqlite:///{tmp_path}/source.db"
    create_engine(source).dispose()
    monkeypatch.setenv("ConnectionStrings__Monitoring", database.url)
    monkeypatch.setenv("ConnectionStrings__Sources__main", source)
    return database


def schedule_one(database: Database, **changes: Any) -> uuid.UUID:
    with database.engine.begin() as connection:
        insert_kpi(connection, make_kpi(sql_text=READINGS, **changes), next_run_at=_past())
    executions, events = Out(), Out()
    call("kpi_scheduler", TimerRequest(past_due=False), executions, events)
    (body,) = executions.get()
    return uuid.UUID(json.loads(body)["execution_id"])


def _past() -> datetime:
    return datetime.now(UTC) - timedelta(minutes=1)


def test_the_pipeline_functions_are_indexed_with_their_queues_and_schedule() -> None:
    functions = {
        name: json.loads(f.get_function_json())["bindings"] for name, f in indexed_functions().items()
    }
    assert {"kpi_scheduler", "kpi_executor", "kpi_executions_poison"} <= set(functions)
    (timer,) = [b for b in functions["kpi_scheduler"] if b["type"] == "timerTrigger"]
    assert (timer["schedule"], timer["runOnStartup"], timer["useMonitor"]) == (
        "%KpiSchedulerSchedule%",
        False,
        True,
    )
    outputs = {b["queueName"] for b in functions["kpi_scheduler"] if b["type"] == "queue"}
    assert outputs == {"kpi-executions", "alert-events"}
    for name, queue in [
        ("kpi_executor", "kpi-executions"),
        ("kpi_executions_poison", "kpi-executions-poison"),
    ]:
        (trigger,) = [b for b in functions[name] if b["type"] == "queueTrigger"]
        assert trigger["queueName"] == queue
        (output,) = [b for b in functions[name] if b["type"] == "queue"]
        assert output["queueName"] == "alert-events"


def test_the_scheduler_timer_emits_one_message_per_new_execution(environment: Database) -> None:
    execution_id = schedule_one(environment)
    with environment.engine.connect() as connection:
        assert connection.scalar(select(kpi_executions.c.id)) == execution_id


def test_a_late_timer_run_after_a_normal_one_creates_no_duplicate(environment: Database) -> None:
    schedule_one(environment)
    executions, events = Out(), Out()
    call("kpi_scheduler", TimerRequest(past_due=True), executions, events)
    assert executions.get() == []


def test_the_executor_runs_the_message_and_emits_the_alert_event(environment: Database) -> None:
    execution_id = schedule_one(environment)
    events = Out()
    call("kpi_executor", message(json.dumps({"execution_id": str(execution_id)})), events)
    (body,) = events.get()
    with environment.engine.connect() as connection:
        alert_id = connection.scalar(select(alerts.c.id))
    assert json.loads(body)["alert_id"] == alert_id


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "invalid message on kpi-executions: body: Invalid JSON"),
        (
            '{"execution_id": "nope"}',
            "invalid message on kpi-executions: execution_id: Input should be a valid UUID",
        ),
        ("{}", "invalid message on kpi-executions: execution_id: Field required"),
        (b"\xff\xfe", "invalid message on kpi-executions: body: Invalid JSON"),
    ],
)
def test_a_malformed_message_is_recorded_and_dropped_without_retry(
    environment: Database, body: str | bytes, reason: str
) -> None:
    events = Out()
    call("kpi_executor", message(body), events)  # returns normally: the host completes the message
    assert events.get() is None
    with environment.engine.connect() as connection:
        (row,) = connection.execute(select(dead_letters.c.queue, dead_letters.c.reason)).all()
    assert row.queue == "kpi-executions"
    assert row.reason.startswith(reason)


def test_a_message_for_a_deleted_kpi_is_recorded_and_dropped(environment: Database) -> None:
    execution_id = schedule_one(environment)
    with environment.engine.begin() as connection:
        connection.execute(kpis.delete())
    events = Out()
    call("kpi_executor", message(json.dumps({"execution_id": str(execution_id)})), events)
    assert events.get() == []
    with environment.engine.connect() as connection:
        (reason,) = connection.execute(select(dead_letters.c.reason)).scalars().all()
    assert reason == f"execution {execution_id} does not exist (its KPI was deleted, or it never did)"


def test_a_poisoned_message_fails_its_execution_and_counts_toward_the_failure_alert(
    environment: Database,
) -> None:
    execution_id = schedule_one(environment, policy=AlertPolicy(failure_alert_after=1))
    events = Out()
    call(
        "kpi_executions_poison",
        message(json.dumps({"execution_id": str(execution_id)}), dequeue_count=5),
        events,
    )
    assert len(events.get()) == 1
    with environment.engine.connect() as connection:
        status, error = connection.execute(select(kpi_executions.c.status, kpi_executions.c.error)).one()
        kind = connection.scalar(select(alerts.c.kind))
        recorded = connection.scalar(select(dead_letters.c.queue))
    assert (status, kind, recorded) == ("failed", "execution_failure", "kpi-executions-poison")
    assert "poison" in error


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # queue behaviour; slots are tested on both
def test_a_deferred_execution_goes_back_to_the_queue_with_a_delay(
    environment: Database, azurite: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", azurite)
    queue = QueueClient.from_connection_string(azurite, "kpi-executions")
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue()
    queue.clear_messages()
    execution_id = schedule_one(environment)
    with environment.engine.begin() as connection:  # the source's only slot is busy
        connection.execute(text("DELETE FROM source_slots"))
        for slot_no in range(5):
            connection.execute(
                source_slots.insert().values(
                    source="main", slot_no=slot_no, lease_owner="busy", lease_until=_past().replace(year=2100)
                )
            )
    events = Out()
    call("kpi_executor", message(json.dumps({"execution_id": str(execution_id)})), events)
    assert events.get() == []
    assert list(queue.receive_messages()) == []  # invisible for now
    # It is there, invisible for its delay (test_queue_sender shows delayed messages reappear).
    assert queue.get_queue_properties().approximate_message_count == 1
    with environment.engine.connect() as connection:
        assert connection.execute(select(kpi_executions.c.status, kpi_executions.c.attempt)).one() == (
            "queued",
            0,
        )
