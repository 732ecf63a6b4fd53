"""The operations functions called as the host calls them: cleanup, maintenance and health_check timers and
`GET /api/metrics`, on real databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from shared.db.tables import alerts, system_status
from tests.conftest import Database
from tests.wiring.bindings import indexed_functions
from tests.wiring.test_pipeline_triggers import Out, call


def bindings(name: str) -> list[dict[str, Any]]:
    return list(json.loads(indexed_functions()[name].get_function_json())["bindings"])


@pytest.mark.parametrize(
    ("name", "schedule"),
    [
        ("cleanup", "%CleanupSchedule%"),
        ("maintenance", "%MaintenanceSchedule%"),
        ("health_check", "%HealthCheckSchedule%"),
    ],
)
def test_the_operations_timers_bind_their_schedule_settings(name: str, schedule: str) -> None:
    (timer,) = [b for b in bindings(name) if b["type"] == "timerTrigger"]
    assert (timer["schedule"], timer["runOnStartup"], timer["useMonitor"]) == (schedule, False, True)


def test_metrics_is_a_get_route_behind_a_function_key() -> None:
    (trigger,) = [b for b in bindings("metrics") if b["type"] == "httpTrigger"]
    assert (trigger["route"], trigger["methods"], trigger["authLevel"]) == ("metrics", ["GET"], "FUNCTION")


@pytest.fixture
def environment(database: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("ConnectionStrings__Monitoring", database.url)
    return database


def components(database: Database) -> set[str]:
    with database.engine.connect() as connection:
        return set(connection.scalars(select(system_status.c.component)))


def test_cleanup_and_maintenance_run_and_leave_their_heartbeats(environment: Database) -> None:
    call("cleanup", TimerRequest(past_due=False))
    call("maintenance", TimerRequest(past_due=False))
    assert {"cleanup", "maintenance"} <= components(environment)


def test_health_check_records_the_status_and_alerts_the_administrator_when_unhealthy(
    environment: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("Worker__HealthChecks__HeartbeatUnhealthySeconds", "30")
    out = Out()
    call("health_check", TimerRequest(past_due=False), out)  # no processor heartbeat yet: Degraded, no alert
    assert out.get() == []
    assert "health" in components(environment)
    with environment.engine.begin() as connection:  # a processor that stopped an hour ago
        connection.execute(
            system_status.insert().values(
                component="alert_processor",
                status="ok",
                heartbeat_at=datetime.now(UTC) - timedelta(hours=1),
                details="{}",
            )
        )
    call("health_check", TimerRequest(past_due=False), out)
    (body,) = out.get()
    with environment.engine.connect() as connection:
        kind, metric_key = connection.execute(select(alerts.c.kind, alerts.c.metric_key)).one()
    assert (kind, metric_key) == ("system", "service-health")
    assert json.loads(body)["alert_id"] is not None


def test_metrics_answers_prometheus_text(environment: Database) -> None:
    request = func.HttpRequest(method="GET", url="http://localhost/api/metrics", body=b"")
    response = indexed_functions()["metrics"].get_user_function()(request)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {family.name for family in text_string_to_metric_families(response.get_body().decode())}
    assert {"mgrid_kpis", "mgrid_outbox_backlog", "mgrid_alerts_open"} <= families
