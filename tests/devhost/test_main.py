"""`python -m devhost` as a real process with the real `function_app`, stopped with SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from shared.db import migrate
from shared.db.engine import create_monitoring_engine
from tests.cli.test_cli_kpi_run import deposits_environment

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_devhost_serves_the_real_app_and_exits_0_on_sigterm(azurite: str, tmp_path: Path) -> None:
    text = run_devhost(azurite, tmp_path)
    assert "Host started: 15 functions, 0 in error" in text
    assert "Host stopped" in text


def test_devhost_logs_json_lines_at_the_minimum_level_with_invocation_ids(
    azurite: str, tmp_path: Path
) -> None:
    text = run_devhost(
        azurite, tmp_path, Worker__Logging__Format="json", Worker__Logging__MinimumLevel="Debug"
    )
    lines = [json.loads(line) for line in text.splitlines()]
    assert any(line["message"].startswith("Host started") for line in lines)
    app_debug = [line for line in lines if line["logger"].startswith("mgrid") and line["level"] == "DEBUG"]
    assert app_debug, text
    assert all("invocation_id" in line for line in app_debug), app_debug


def test_devhost_json_lines_of_a_run_carry_the_invocation_execution_kpi_and_alert_ids(
    azurite: str, tmp_path: Path
) -> None:
    settings = deposits_environment(tmp_path)  # the Deposits KPI, breaching
    runs: list[dict[str, Any]] = []

    def run_deposits(port: int) -> None:
        response = httpx.post(f"http://127.0.0.1:{port}/api/kpis/1/run", json={"dry_run": False}, timeout=30)
        assert response.status_code == 200, response.text
        runs.append(response.json())

    text = run_devhost(azurite, tmp_path, while_up=run_deposits, Worker__Logging__Format="json", **settings)

    [run] = runs
    lines = [json.loads(line) for line in text.splitlines()]
    # The alert transition of this run (opened, or retriggered should the scheduler have run it first).
    [transition] = [
        line
        for line in lines
        if line["logger"] == "mgrid.events" and line.get("execution_id") == run["execution_id"]
    ]
    [started] = [line for line in lines if line["message"].startswith("Executing 'Functions.api")]
    assert transition["invocation_id"] in started["message"]
    assert (transition["kpi_id"], transition["alert_id"]) == (1, run["alerts"][0]["id"])


def run_devhost(
    azurite: str, tmp_path: Path, *, while_up: Callable[[int], None] | None = None, **settings: str
) -> str:
    """Start the devhost on the database of `tmp_path` (migrated), wait for /api/health, call `while_up` with
    its port, stop it with SIGTERM; its log."""
    database = tmp_path / "monitoring.db"
    engine = create_monitoring_engine(f"sqlite:///{database}")
    migrate.upgrade(engine)
    engine.dispose()
    port = free_port()
    env = {
        **os.environ,
        "ConnectionStrings__Monitoring": f"sqlite:///{database}",
        "AzureWebJobsStorage": azurite,
        **settings,
    }
    log = tmp_path / "devhost.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "devhost", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            status, body = None, b""
            deadline = time.monotonic() + 60
            while status is None:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                try:
                    url = f"http://127.0.0.1:{port}/api/health"
                    with urllib.request.urlopen(url, timeout=10) as response:
                        status, body = response.status, response.read()
                except (urllib.error.URLError, ConnectionError):
                    time.sleep(0.1)
            assert status == 200, body
            # Degraded until alert_processor (every 30 s) has written its first heartbeat.
            assert json.loads(body)["status"] in {"Healthy", "Degraded"}
            if while_up is not None:
                while_up(port)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=40) == 0, log.read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    return log.read_text()
