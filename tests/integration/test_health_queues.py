"""The queues health check against a real Azurite: depth of the work queues, messages in their poison queues,
unreachable storage, and no storage at all."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient
from sqlalchemy import Engine

from shared.services.health import check_health
from shared.services.health_probes import POISON_QUEUES, WORK_QUEUES, storage_queue_counts
from shared.settings import Settings
from tests.azurite import connection_string

QUEUES = (*WORK_QUEUES, *POISON_QUEUES)


def no_database() -> Engine:
    raise AssertionError("the queues check needs no database")


@pytest.fixture(autouse=True)
def only_storage_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the configuration and queues checks run."""
    for check in ("Database", "KpiExecution", "AlertProcessing"):
        monkeypatch.setenv(f"Worker__HealthChecks__Check{check}", "false")


@pytest.fixture
def storage(azurite: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, QueueClient]]:
    """The host storage is Azurite, with the four watched queues present and empty."""
    monkeypatch.setenv("AzureWebJobsStorage", azurite)
    clients = {queue: QueueClient.from_connection_string(azurite, queue) for queue in QUEUES}
    for client in clients.values():
        with contextlib.suppress(ResourceExistsError):
            client.create_queue()
        client.clear_messages()
    yield clients
    for client in clients.values():
        client.clear_messages()
        client.close()


def queues_check() -> dict[str, Any]:
    check: dict[str, Any] = check_health(Settings.load, no_database).to_dict()["checks"]["queues"]
    return check


def test_empty_queues_are_healthy(storage: dict[str, QueueClient]) -> None:
    check = queues_check()
    assert check["status"] == "Healthy"
    assert check["detail"] == {
        "depth": {"kpi-executions": 0, "alert-events": 0},
        "poison": {"kpi-executions-poison": 0, "alert-events-poison": 0},
    }


def test_queues_that_do_not_exist_yet_hold_nothing(azurite: str, storage: dict[str, QueueClient]) -> None:
    storage["alert-events-poison"].delete_queue()
    assert storage_queue_counts(Settings.load(AzureWebJobsStorage=azurite), timeout_s=5) == dict.fromkeys(
        QUEUES, 0
    )
    storage["alert-events-poison"].create_queue()


def test_poison_messages_degrade_the_queues(storage: dict[str, QueueClient]) -> None:
    for body in ("lost-1", "lost-2"):
        storage["kpi-executions-poison"].send_message(body)
    check = queues_check()
    assert check["status"] == "Degraded"
    assert check["detail"]["poison"] == {"kpi-executions-poison": 2, "alert-events-poison": 0}
    assert check["detail"]["problems"] == ["kpi-executions-poison holds 2 messages"]


def test_a_deep_queue_degrades_counting_delayed_messages_too(
    storage: dict[str, QueueClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("Worker__HealthChecks__QueueDepthDegraded", "3")
    storage["alert-events"].send_message("now")
    storage["alert-events"].send_message("later", visibility_timeout=600)
    assert queues_check()["status"] == "Healthy"
    storage["alert-events"].send_message("one more")
    check = queues_check()
    assert check["status"] == "Degraded"
    assert check["detail"]["depth"] == {"kpi-executions": 0, "alert-events": 3}
    assert check["detail"]["problems"] == ["alert-events holds 3 messages"]


def test_unreachable_storage_is_unhealthy_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = int(probe.getsockname()[1])
    monkeypatch.setenv("AzureWebJobsStorage", connection_string(closed))
    started = time.monotonic()
    report = check_health(Settings.load, no_database, default_timeout_s=30)
    elapsed = time.monotonic() - started
    assert report.to_dict()["checks"]["queues"]["status"] == "Unhealthy"
    assert report.to_dict()["checks"]["queues"]["detail"] == {"error": "ServiceRequestError"}
    assert report.status.value == "Unhealthy"
    assert elapsed < 5  # one attempt, no retry back-off


def test_without_host_storage_the_queues_are_not_checked() -> None:
    report = check_health(Settings.load, no_database)
    assert [(check.name, check.status.value) for check in report.checks] == [("configuration", "Healthy")]
