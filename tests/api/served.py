"""The real `function_app` served by the devhost in this process, over real HTTP, with a function key."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import azure.functions as func
import pytest

from devhost.host import Host
from devhost.settings import HostConfig
from tests.conftest import Database

ROOT = Path(__file__).resolve().parents[2]
KEY = "test-function-key"
ACK_SECRET = "served-ack-secret"


@dataclass(frozen=True)
class Served:
    base: str
    key: str


def fresh_app() -> func.FunctionApp:
    """`function_app.app` built anew from its file: a FunctionApp can be indexed only once, and other tests
    index the imported one."""
    spec = importlib.util.spec_from_file_location("function_app_served", ROOT / "function_app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app: func.FunctionApp = module.app
    return app


@pytest.fixture
def served(database: Database, azurite: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    settings = {
        "ConnectionStrings__Monitoring": database.url,
        "AzureWebJobsStorage": azurite,
        "DEVHOST_FUNCTION_KEY": KEY,
        "Notifications__AckTokenSecret": ACK_SECRET,
        "Notifications__PublicBaseUrl": "http://127.0.0.1",
        # Timers far apart: these tests drive the API, not the pipeline.
        "Worker__KpiMonitoring__Schedule": "0 0 * * * *",
        "Worker__KpiMonitoring__IntervalSeconds": "3600",
        "Worker__AlertProcessing__Schedule": "0 0 * * * *",
        "Worker__AlertProcessing__IntervalSeconds": "3600",
        "Worker__HealthChecks__Schedule": "0 0 0 * * *",
        "Worker__HealthChecks__IntervalSeconds": "86400",
        "Worker__ScheduledTasks__CleanupCronExpression": "0 0 2 * * *",
        "Worker__ScheduledTasks__MaintenanceCronExpression": "0 0 3 * * 0",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    config = HostConfig.from_json(json.loads((ROOT / "host.json").read_text(encoding="utf-8")))
    host = Host(fresh_app(), config, environ=dict(os.environ), port=0)
    host.start()
    try:
        yield Served(base=f"http://127.0.0.1:{host.http_port}", key=KEY)
    finally:
        host.stop(5)
