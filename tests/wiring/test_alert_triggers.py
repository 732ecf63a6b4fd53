"""The alerting functions called as the host calls them: their bindings, acknowledge and resolve over HTTP
(the `api` function),
the processor timer and the alert-events handlers, on real databases."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest
from sqlalchemy import select

from shared.db.tables import alert_events, alerts, dead_letters, system_status
from tests import factories
from tests.conftest import Database
from tests.factories import NOW, insert_kpi, make_kpi
from tests.wiring.bindings import indexed_functions
from tests.wiring.test_pipeline_triggers import Out, call


def bindings(name: str) -> list[dict[str, Any]]:
    return list(json.loads(indexed_functions()[name].get_function_json())["bindings"])


def test_the_alert_functions_are_indexed_with_their_queues_schedule_and_routes() -> None:
    for name, queue in [("alert_escalation", "alert-events"), ("alert_events_poison", "alert-events-poison")]:
        (trigger,) = [b for b in bindings(name) if b["type"] == "queueTrigger"]
        assert (trigger["queueName"], trigger["connection"]) == (queue, "AzureWebJobsStorage")
    (timer,) = [b for b in bindings("alert_processor") if b["type"] == "timerTrigger"]
    assert timer["schedule"] == "%AlertProcessorSchedule%"
    (trigger,) = [b for b in bindings("api") if b["type"] == "httpTrigger"]
    assert (trigger["route"], trigger["authLevel"]) == ("{*route}", "FUNCTION")
    (trigger,) = [b for b in bindings("alert_ack_link") if b["type"] == "httpTrigger"]
    assert (trigger["route"], trigger["authLevel"]) == ("alerts/{alert_id}/ack", "ANONYMOUS")
    for name in ["alert_escalation", "alert_events_poison", "alert_processor", "api", "alert_ack_link"]:
        (output,) = [b for b in bindings(name) if b["type"] == "queue"]
        assert output["queueName"] == "alert-events"


@pytest.fixture
def environment(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("ConnectionStrings__Monitoring", database.url)
    return database


def open_alert(database: Database) -> tuple[int, int]:
    with database.engine.begin() as connection:
        kpi_id = insert_kpi(connection, make_kpi())
        event = factories.open_alert(connection, kpi_id, next_escalation_at=NOW)
    return event.alert_id, event.event_id


def post(name: str, alert_id: object, body: object) -> tuple[int, dict[str, Any], Out]:
    """POST /api/alerts/{id}/acknowledge|resolve through the `api` function, as the host calls it."""
    action = {"alert_acknowledge": "acknowledge", "alert_resolve": "resolve"}[name]
    request = func.HttpRequest(
        method="POST",
        url=f"http://localhost/api/alerts/{alert_id}/{action}",
        headers={"content-type": "application/json"},
        body=json.dumps(body).encode() if body is not None else b"",
        route_params={"route": f"alerts/{alert_id}/{action}"},
    )
    out = Out()
    response = asyncio.run(indexed_functions()["api"].get_user_function()(request, out))
    return response.status_code, json.loads(response.get_body()), out


def test_acknowledge_over_http_records_who_and_stops_escalation(environment: Database) -> None:
    alert_id, _ = open_alert(environment)
    status, document, out = post("alert_acknowledge", alert_id, {"by": "alice", "note": "on it"})
    assert status == 200
    assert (document["status"], document["acknowledged_by"], document["changed"]) == (
        "acknowledged",
        "alice",
        True,
    )
    assert out.get() == []
    with environment.engine.connect() as connection:
        assert connection.scalar(select(alerts.c.next_escalation_at)) is None
        actor, details = connection.execute(
            select(alert_events.c.actor, alert_events.c.details).where(
                alert_events.c.event_type == "acknowledged"
            )
        ).one()
    assert (actor, json.loads(details)) == ("alice", {"note": "on it"})


def test_resolve_over_http_emits_the_resolved_event(environment: Database) -> None:
    alert_id, _ = open_alert(environment)
    status, document, out = post("alert_resolve", alert_id, {"by": "bob", "reason": "fixed"})
    assert status == 200
    assert (document["status"], document["resolved_by"], document["resolution_reason"]) == (
        "resolved",
        "bob",
        "fixed",
    )
    (body,) = out.get()
    assert json.loads(body)["alert_id"] == alert_id
    status, document, out = post("alert_resolve", alert_id, {"by": "bob"})
    assert (status, document["changed"], out.get()) == (200, False, [])


@pytest.mark.parametrize(
    ("name", "alert_id", "body", "status", "error"),
    [
        ("alert_acknowledge", 999_999, {"by": "x"}, 404, "no alert with id 999999"),
        ("alert_acknowledge", "abc", {"by": "x"}, 400, "alert_id: Input should be a valid integer"),
        ("alert_acknowledge", None, {}, 400, "who is acting"),
        ("alert_resolve", None, ["by"], 400, "body: Input should be a valid dictionary"),
        ("alert_resolve", None, None, 400, "body: Field required"),
    ],
)
def test_bad_requests_get_a_clear_error(
    environment: Database, name: str, alert_id: object, body: object, status: int, error: str
) -> None:
    own_id, _ = open_alert(environment)
    answered, document, _ = post(name, own_id if alert_id is None else alert_id, body)
    assert answered == status
    assert error in document["error"]


def test_acknowledging_a_resolved_alert_is_a_conflict(environment: Database) -> None:
    alert_id, _ = open_alert(environment)
    post("alert_resolve", alert_id, {"by": "bob"})
    status, document, _ = post("alert_acknowledge", alert_id, {"by": "alice"})
    assert status == 409
    assert "is resolved" in document["error"]


def test_the_processor_timer_escalates_and_emits_the_event(
    environment: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    alert_id, _ = open_alert(environment)
    with environment.engine.begin() as connection:
        kpi_id = connection.scalar(select(alerts.c.kpi_id))
        from tests.factories import insert_contact

        insert_contact(connection, "Lead", kpi_id=kpi_id, level=1, email="lead@example.com")
    out = Out()
    call("alert_processor", TimerRequest(past_due=False), out)
    bodies = [json.loads(body) for body in out.get()]
    assert {body["alert_id"] for body in bodies} == {alert_id}
    with environment.engine.connect() as connection:
        assert connection.scalar(select(alerts.c.escalation_level)) == 1
        assert connection.scalar(select(system_status.c.component)) == "alert_processor"


def message(body: bytes, *, dequeue_count: int = 1) -> QueueMessage:
    return QueueMessage(id=str(uuid.uuid4()), body=body, dequeue_count=dequeue_count)


def test_a_malformed_alert_event_is_recorded_and_dropped(environment: Database) -> None:
    out = Out()
    call("alert_escalation", message(b"{oops"), out)
    assert out.get() is None
    with environment.engine.connect() as connection:
        assert connection.scalar(select(dead_letters.c.queue)) == "alert-events"


def test_a_poisoned_alert_event_is_recorded(environment: Database) -> None:
    alert_id, event_id = open_alert(environment)
    out = Out()
    body = json.dumps({"event_id": event_id, "alert_id": alert_id}).encode()
    call("alert_events_poison", message(body, dequeue_count=5), out)
    assert out.get() == []  # no administrator contact configured: recorded and logged
    with environment.engine.connect() as connection:
        assert connection.scalar(select(dead_letters.c.queue)) == "alert-events-poison"
        assert (
            connection.scalar(
                select(alert_events.c.event_type).where(alert_events.c.event_type == "delivery_failed")
            )
            == "delivery_failed"
        )
