"""`GET /api/health` through the real handler with real `HttpRequest` objects, on real databases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from sqlalchemy import text

from shared.db import migrate
from tests.conftest import Database
from tests.wiring.bindings import indexed_functions


def get_health() -> tuple[int, dict[str, Any], func.HttpResponse]:
    function = indexed_functions()["health"]
    request = func.HttpRequest(method="GET", url="http://localhost:7071/api/health", body=b"")
    response = function.get_user_function()(request)
    return response.status_code, json.loads(response.get_body()), response


def test_a_migrated_database_is_healthy(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ConnectionStrings__Monitoring", database.url)
    status, body, response = get_health()
    assert status == 200
    assert response.mimetype == "application/json"
    assert body["status"] == "Healthy"
    assert set(body["checks"]) == {"configuration", "database"}
    check = body["checks"]["database"]
    assert check["status"] == "Healthy"
    head = migrate.head()
    assert check["detail"] == {"backend": database.backend, "revision": head, "expected_revision": head}
    assert check["duration_ms"] >= 0


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


def test_the_database_check_can_be_switched_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ConnectionStrings__Monitoring", f"sqlite:///{tmp_path}/empty.db")
    monkeypatch.setenv("Worker__HealthChecks__CheckDatabase", "false")
    status, body, _ = get_health()
    assert (status, body["status"], set(body["checks"])) == (200, "Healthy", {"configuration"})


def test_health_responses_are_not_cached(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ConnectionStrings__Monitoring", database.url)
    _, _, response = get_health()
    assert response.headers["Cache-Control"] == "no-store"
