"""`GET /api/health` through the real handler with real `HttpRequest` objects, on real databases and a real
Azurite: each way to Healthy (200), Degraded (200) and Unhealthy (503), and the exact body."""

from __future__ import annotations

import contextlib
import json
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient
from sqlalchemy import insert, text

from devhost.http import Route, Router
from shared.db import migrate
from shared.db.status import heartbeat
from shared.db.tables import kpi_executions
from tests.azurite import connection_string
from tests.conftest import Database
from tests.factories import insert_kpi, make_kpi
from tests.wiring.bindings import indexed_functions


def get_health(function_name: str = "health") -> tuple[int, dict[str, Any], func.HttpResponse]:
    function = indexed_functions()[function_name]
    route = "health/details" if function_name == "health_details" else "health"
    request = func.HttpRequest(method="GET", url=f"http://localhost:7071/api/{route}", body=b"")
    response = function.get_user_function()(request)
    return response.status_code, json.loads(response.get_body()), response


def active_kpi(
    database: Database, *, indicator: str = "Deposits", changed_ago: timedelta = timedelta(0)
) -> None:
    """An active KPI, last changed `changed_ago` and never run: stale once twice its period has passed."""
    at = datetime.now(UTC) - changed_ago
    with database.engine.begin() as connection:
        insert_kpi(connection, make_kpi(indicator=indicator), next_run_at=at, now=at)


def processor_ran(database: Database, *, seconds_ago: float) -> None:
    with database.engine.begin() as connection:
        at = datetime.now(UTC) - timedelta(seconds=seconds_ago)
        heartbeat(connection, "alert_processor", status="ok", now=at, details={})


def details(body: dict[str, Any]) -> dict[str, Any]:
    return {name: check["detail"] for name, check in body["checks"].items()}


def test_a_migrated_database_with_a_running_processor_is_healthy(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    processor_ran(database, seconds_ago=5)
    active_kpi(database)
    monkeypatch.setenv("ConnectionStrings__Monitoring", database.url)
    status, body, response = get_health()
    assert status == 200
    assert response.mimetype == "application/json"
    assert body["status"] == "Healthy"
    assert list(body["checks"]) == ["configuration", "database", "kpi-execution", "alert-processing"]
    assert {check["status"] for check in body["checks"].values()} == {"Healthy"}
    assert all(check["duration_ms"] >= 0 for check in body["checks"].values())
    head = migrate.head()
    assert details(body) == {
        "configuration": {},
        "database": {"backend": database.backend, "revision": head, "expected_revision": head},
        "kpi-execution": {
            "active_kpis": 1,
            "stale_kpis": 0,
            "stuck_executions": 0,
            "finished_last_hour": 0,
            "failed_last_hour": 0,
            "failure_ratio_percent": None,
        },
        "alert-processing": {
            "heartbeat_age_s": details(body)["alert-processing"]["heartbeat_age_s"],
            "undispatched_events": 0,
            "oldest_undispatched_age_s": None,
            "failed_deliveries_24h": 0,
            "skipped_deliveries_24h": 0,
            "dropped_deliveries_24h": 0,
            "channels": {
                "email": "Notifications__Smtp__Host is not set",
                "sms": "Notifications__Acs__ConnectionString and Notifications__Acs__From are not set "
                "(Notifications__Sms__Mode is acs)",
                "teams": "usable",
                "slack": "usable",
                "webhook": "usable",
            },
        },
    }
    assert 5 <= details(body)["alert-processing"]["heartbeat_age_s"] < 60


def test_no_active_kpi_is_degraded_with_a_clear_problem(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    processor_ran(database, seconds_ago=5)
    monkeypatch.setenv("ConnectionStrings__Monitoring", database.url)
    status, body, _ = get_health()
    assert (status, body["status"], body["checks"]["kpi-execution"]["status"]) == (
        200,
        "Degraded",
        "Degraded",
    )
    assert details(body)["kpi-execution"]["problems"] == ["no active KPI: nothing is being monitored"]


def test_the_anonymous_answer_counts_stale_kpis_and_the_keyed_one_names_them(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    processor_ran(database, seconds_ago=5)
    active_kpi(database, indicator="Secret Acquirer Volume", changed_ago=timedelta(hours=1))
    active_kpi(database, indicator="Deposits")
    monkeypatch.setenv("ConnectionStrings__Monitoring", database.url)
    status, body, response = get_health()
    assert (status, details(body)["kpi-execution"]["stale_kpis"]) == (200, 1)
    assert "stale" not in details(body)["kpi-execution"]
    assert "Secret Acquirer" not in response.get_body().decode()
    status, named, _ = get_health("health_details")
    assert (status, named["status"]) == (200, "Degraded")
    assert details(named)["kpi-execution"]["stale"] == ["Secret Acquirer Volume"]
    assert {**details(named)["kpi-execution"], "stale": None} == {
        **details(body)["kpi-execution"],
        "stale": None,
    }


def test_the_devhost_serves_health_to_anyone_and_its_details_only_with_the_function_key() -> None:
    triggers = {
        name: json.loads(function.get_function_json())["bindings"][0]
        for name, function in indexed_functions().items()
    }
    routes = [  # as the devhost builds them from the app's function.json (devhost/host.py)
        Route.build(name, trigger["route"], trigger["methods"], trigger["authLevel"])
        for name, trigger in triggers.items()
        if trigger["type"] == "httpTrigger"
    ]
    router = Router(routes, "api", function_key="k3y")
    anonymous = router.resolve("GET", "/api/health", {}, {})
    assert not isinstance(anonymous, int)
    assert anonymous[0].function == "health"
    assert router.resolve("GET", "/api/health/details", {}, {}) == 401
    keyed = router.resolve("GET", "/api/health/details", {}, {"x-functions-key": "k3y"})
    assert not isinstance(keyed, int)
    assert keyed[0].function == "health_details"


def test_a_new_database_whose_processor_never_ran_is_degraded_but_answers_200(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ConnectionStrings__Monitoring", database.url)
    status, body, _ = get_health()
    assert (status, body["status"]) == (200, "Degraded")
    assert body["checks"]["alert-processing"]["status"] == "Degraded"
    assert details(body)["alert-processing"]["problems"] == ["the alert processor has not run yet"]


def test_a_stopped_alert_processor_makes_the_service_unhealthy_with_503(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    processor_ran(database, seconds_ago=600)
    active_kpi(database)
    monkeypatch.setenv("ConnectionStrings__Monitoring", database.url)
    status, body, _ = get_health()
    assert (status, body["status"]) == (503, "Unhealthy")
    check = body["checks"]["alert-processing"]
    assert check["status"] == "Unhealthy"
    assert 600 <= check["detail"]["heartbeat_age_s"] < 660
    assert check["detail"]["problems"] == [
        f"the alert processor last ran {check['detail']['heartbeat_age_s']} s ago"
    ]
    assert {name: c["status"] for name, c in body["checks"].items() if name != "alert-processing"} == {
        "configuration": "Healthy",
        "database": "Healthy",
        "kpi-execution": "Healthy",
    }


def test_a_stuck_execution_is_degraded_but_answers_200(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    processor_ran(database, seconds_ago=5)
    now = datetime.now(UTC)
    with database.engine.begin() as connection:
        kpi_id = insert_kpi(connection, make_kpi(), next_run_at=now, now=now)
        connection.execute(
            insert(kpi_executions).values(
                id=uuid.uuid4(),
                kpi_id=kpi_id,
                slot=now - timedelta(minutes=5),
                triggered_by="scheduled",
                status="running",
                attempt=1,
                lease_owner="dead-host",
                lease_until=now - timedelta(minutes=1),
                created_at=now - timedelta(minutes=5),
                started_at=now - timedelta(minutes=5),
            )
        )
    monkeypatch.setenv("ConnectionStrings__Monitoring", database.url)
    status, body, _ = get_health()
    assert (status, body["status"]) == (200, "Degraded")
    check = body["checks"]["kpi-execution"]
    assert check == {
        "status": "Degraded",
        "duration_ms": check["duration_ms"],
        "detail": {
            "active_kpis": 1,
            "stale_kpis": 0,
            "stuck_executions": 1,
            "finished_last_hour": 0,
            "failed_last_hour": 0,
            "failure_ratio_percent": None,
            "problems": ["1 execution running past the lease"],
        },
    }


def test_an_unmigrated_database_is_unhealthy_with_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ConnectionStrings__Monitoring", f"sqlite:///{tmp_path}/empty.db")
    status, body, _ = get_health()
    assert status == 503
    assert body["status"] == "Unhealthy"
    assert body["checks"]["database"]["detail"]["error"] == "schema not migrated: run `mgrid db upgrade`"


def test_a_database_behind_the_code_is_degraded_but_answers_200(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    monkeypatch.setenv("ConnectionStrings__Monitoring", database.url)
    status, body, _ = get_health()
    assert status == 200
    assert body["status"] == "Degraded"
    assert body["checks"]["database"]["detail"]["revision"] == "0000"


def test_an_unreachable_database_is_unhealthy_and_reveals_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "ConnectionStrings__Monitoring", "postgresql://monitor:pa55word@127.0.0.1:9/monitoring"
    )
    status, body, response = get_health()
    assert status == 503
    assert body["checks"]["database"] == {
        "status": "Unhealthy",
        "duration_ms": body["checks"]["database"]["duration_ms"],
        "detail": {"error": "OperationalError"},
    }
    assert details(body) == {
        "configuration": {},
        "database": {"error": "OperationalError"},
        "kpi-execution": {"error": "OperationalError"},
        "alert-processing": {"error": "OperationalError"},
    }
    raw = response.get_body().decode()
    assert "pa55word" not in raw
    assert "127.0.0.1" not in raw


def test_invalid_settings_are_reported_as_unhealthy_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Worker__KpiMonitoring__MaxParallelKpis", "0")
    status, body, _ = get_health()
    assert status == 503
    assert body["checks"] == {
        "configuration": {
            "status": "Unhealthy",
            "duration_ms": body["checks"]["configuration"]["duration_ms"],
            "detail": {
                "problems": [
                    "Worker__KpiMonitoring__MaxParallelKpis = '0': "
                    "Input should be greater than or equal to 1 (allowed: integer 1..50)"
                ]
            },
        }
    }


def test_the_database_checks_can_be_switched_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ConnectionStrings__Monitoring", f"sqlite:///{tmp_path}/empty.db")
    for name in ("Database", "KpiExecution", "AlertProcessing"):
        monkeypatch.setenv(f"Worker__HealthChecks__Check{name}", "false")
    status, body, _ = get_health()
    assert (status, body["status"], set(body["checks"])) == (200, "Healthy", {"configuration"})


@pytest.fixture
def poisoned(azurite: str) -> Iterator[QueueClient]:
    """`kpi-executions-poison` on Azurite, emptied before and after the test; the other queues empty."""
    for queue in ("kpi-executions", "alert-events", "alert-events-poison", "kpi-executions-poison"):
        client = QueueClient.from_connection_string(azurite, queue)
        with contextlib.suppress(ResourceExistsError):
            client.create_queue()
        client.clear_messages()
    yield client
    client.clear_messages()
    client.close()


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # queue behaviour; databases are tested above
def test_poison_messages_degrade_the_queues_check_but_answer_200(
    database: Database, azurite: str, poisoned: QueueClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    processor_ran(database, seconds_ago=5)
    poisoned.send_message("a message that failed five times")
    monkeypatch.setenv("ConnectionStrings__Monitoring", database.url)
    monkeypatch.setenv("AzureWebJobsStorage", azurite)
    status, body, _ = get_health()
    assert (status, body["status"]) == (200, "Degraded")
    assert body["checks"]["queues"] == {
        "status": "Degraded",
        "duration_ms": body["checks"]["queues"]["duration_ms"],
        "detail": {
            "depth": {"kpi-executions": 0, "alert-events": 0},
            "poison": {"kpi-executions-poison": 1, "alert-events-poison": 0},
            "problems": ["kpi-executions-poison holds 1 message"],
        },
    }


def test_unreachable_storage_is_unhealthy_with_503(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = int(probe.getsockname()[1])
    monkeypatch.setenv("AzureWebJobsStorage", connection_string(closed))
    for name in ("Database", "KpiExecution", "AlertProcessing"):
        monkeypatch.setenv(f"Worker__HealthChecks__Check{name}", "false")
    status, body, response = get_health()
    assert (status, body["status"]) == (503, "Unhealthy")
    assert details(body) == {"configuration": {}, "queues": {"error": "ServiceRequestError"}}
    assert "AccountKey" not in response.get_body().decode()


def test_health_responses_are_not_cached(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ConnectionStrings__Monitoring", database.url)
    _, _, response = get_health()
    assert response.headers["Cache-Control"] == "no-store"
