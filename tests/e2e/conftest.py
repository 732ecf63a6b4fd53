"""End-to-end fixtures: a dedicated Azurite per module, and the settings every devhost of a test shares. Every
test here carries the marker `e2e` (`-m "not e2e"` leaves them out)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.azurite import azurite_queue
from tests.conftest import Database

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="module")
def queues(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh Azurite queue service for this module's processes (no leftovers from other tests)."""
    with azurite_queue(tmp_path_factory.mktemp("azurite-e2e")) as connection_string:
        yield connection_string


def host_env(database: Database, storage: str, **overrides: str) -> dict[str, str]:
    """Settings for devhosts running the real app on `database` (also the KPIs' source `main`)."""
    return {
        "ConnectionStrings__Monitoring": database.url,
        "ConnectionStrings__Sources__main": database.url,
        "AzureWebJobsStorage": storage,
        "Worker__KpiMonitoring__IntervalSeconds": "10",
        "KpiSchedulerSchedule": "*/10 * * * * *",
        "Worker__KpiMonitoring__ExecutionTimeoutSeconds": "30",
        **overrides,
    }
