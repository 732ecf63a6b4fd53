"""`telemetry.configure` end to end: with a connection string whose ingestion endpoint is a local HTTP server
posing as Application Insights, the service's metrics, custom events and logs arrive there as the Azure
Monitor exporter sends them (`POST /v2.1/track`); and it configures nothing without the setting, when the
Functions worker exports telemetry itself, when OpenTelemetry was set up already, or a second time.

Each case runs in its own Python process: `configure_azure_monitor` installs process-wide providers and
instrumentations that no test could take back.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
IKEY = "00000000-0000-0000-0000-000000000000"

RUN = """
import logging, sys
from opentelemetry import metrics, trace
from opentelemetry._logs import get_logger_provider
from shared import telemetry
from shared.settings import Settings

if "--sdk-first" in sys.argv:
    from opentelemetry.sdk.metrics import MeterProvider
    metrics.set_meter_provider(MeterProvider())
settings = Settings.load()
decisions = [telemetry.configure(settings).name, telemetry.configure(settings).name]
telemetry.record_execution(kpi="Deposits", outcome="succeeded", duration_ms=12.5)
telemetry.record_alert_transition(
    transition="opened", severity="critical", alert_id=7, kpi="Deposits", metric_key="card"
)
with telemetry.log_context(execution_id="e-1", kpi_id=3):
    logging.getLogger("mgrid.executor").warning("the source answered slowly")
providers = [metrics.get_meter_provider(), trace.get_tracer_provider(), get_logger_provider()]
for provider in providers:
    getattr(provider, "force_flush", lambda: None)()
for provider in providers:
    getattr(provider, "shutdown", lambda: None)()
print(" ".join(decisions), type(metrics.get_meter_provider()).__module__)
"""


class Ingestion(ThreadingHTTPServer):
    """Accepts what an Application Insights ingestion endpoint accepts, and keeps every telemetry item."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.paths: list[str] = []
        self.items: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def of_type(self, base_type: str) -> list[dict[str, Any]]:
        with self.lock:
            return [item["data"]["baseData"] for item in self.items if item["data"]["baseType"] == base_type]


class _Handler(BaseHTTPRequestHandler):
    server: Ingestion

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        items = json.loads(body)
        with self.server.lock:
            self.server.paths.append(self.path)
            self.server.items += items
        answer = json.dumps({"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def ingestion() -> Iterator[Ingestion]:
    server = Ingestion()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def run(tmp_path: Path, *args: str, **env: str) -> str:
    """Run the scenario in a fresh interpreter with only `env` set (plus what Python needs)."""
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),  # the exporter's offline storage goes there
        # Resource detection would probe the Azure VM metadata endpoint; statsbeat reports to Microsoft.
        "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "otel",
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-c", RUN, *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def connection_string(server: Ingestion) -> str:
    port = server.server_address[1]
    return f"InstrumentationKey={IKEY};IngestionEndpoint=http://127.0.0.1:{port}/"


def test_configured_telemetry_reaches_the_ingestion_endpoint(tmp_path: Path, ingestion: Ingestion) -> None:
    out = run(tmp_path, APPLICATIONINSIGHTS_CONNECTION_STRING=connection_string(ingestion))

    assert out == "CONFIGURED ALREADY_CONFIGURED opentelemetry.sdk.metrics._internal"
    assert set(ingestion.paths) == {"/v2.1/track"}
    assert {item["iKey"] for item in ingestion.items} == {IKEY}
    events = ingestion.of_type("EventData")
    assert [(e["name"], e["properties"]["alert_id"], e["properties"]["kpi"]) for e in events] == [
        ("AlertOpened", "7", "Deposits")
    ]
    metrics = {
        (m["metrics"][0]["name"], m["properties"].get("outcome")): m["metrics"][0]
        for m in ingestion.of_type("MetricData")
    }
    assert metrics["mgrid.kpi.executions", "succeeded"]["value"] == 1
    assert metrics["mgrid.kpi.execution.duration", "succeeded"]["value"] == 12.5
    messages = {m["message"]: m["properties"] for m in ingestion.of_type("MessageData")}
    assert messages["the source answered slowly"]["execution_id"] == "e-1"
    assert messages["the source answered slowly"]["kpi_id"] == "3"


@pytest.mark.parametrize(
    ("args", "env", "decision"),
    [
        pytest.param((), {}, "NO_CONNECTION_STRING", id="no connection string"),
        pytest.param(
            (),
            {"PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "true"},
            "WORKER_TELEMETRY",
            id="the worker exports to Application Insights",
        ),
        pytest.param(
            (), {"PYTHON_ENABLE_OPENTELEMETRY": "1"}, "WORKER_TELEMETRY", id="the worker's OpenTelemetry mode"
        ),
        pytest.param(("--sdk-first",), {}, "ALREADY_CONFIGURED", id="an SDK provider is installed already"),
    ],
)
def test_configure_leaves_export_alone_when_it_should(
    tmp_path: Path, ingestion: Ingestion, args: tuple[str, ...], env: dict[str, str], decision: str
) -> None:
    if decision != "NO_CONNECTION_STRING":
        env = {**env, "APPLICATIONINSIGHTS_CONNECTION_STRING": connection_string(ingestion)}

    decisions, provider_module = run(tmp_path, *args, **env).rsplit(" ", 1)

    assert decisions == f"{decision} {decision}"
    if not args:
        assert provider_module == "opentelemetry.metrics._internal"  # still the API's proxy: nothing set up
    assert ingestion.items == []


def test_a_refused_connection_string_leaves_export_off_and_is_not_tried_again(
    tmp_path: Path, ingestion: Ingestion
) -> None:
    port = ingestion.server_address[1]

    out = run(tmp_path, APPLICATIONINSIGHTS_CONNECTION_STRING=f"IngestionEndpoint=http://127.0.0.1:{port}/")

    assert out == "INVALID INVALID opentelemetry.metrics._internal"
    assert ingestion.items == []
