"""`Worker__Logging__MinimumLevel` and `Worker__Logging__Format` in a real `mgrid` process."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import mgrid
from tests.cli.test_cli_kpi_run import deposits_environment


def test_mgrid_logs_json_lines_at_the_minimum_level(tmp_path: Path) -> None:
    env = {**deposits_environment(tmp_path), "Worker__Logging__Format": "json"}

    quiet = mgrid("kpi", "run", "Deposits", cwd=tmp_path, Worker__Logging__MinimumLevel="Warning", **env)
    verbose = mgrid("kpi", "run", "Deposits", cwd=tmp_path, Worker__Logging__MinimumLevel="Debug", **env)

    assert quiet.returncode == verbose.returncode == 0
    quiet_lines = [json.loads(line) for line in quiet.stderr.splitlines()]
    verbose_lines = [json.loads(line) for line in verbose.stderr.splitlines()]
    assert all(line["level"] != "DEBUG" for line in quiet_lines)
    debug = [line for line in verbose_lines if line["level"] == "DEBUG"]
    assert debug
    assert all(line["logger"].startswith("mgrid") for line in debug)
    assert all({"timestamp", "level", "logger", "message"} <= set(line) for line in verbose_lines)


def test_mgrid_json_lines_of_a_run_carry_its_execution_kpi_and_alert_ids(tmp_path: Path) -> None:
    env = {**deposits_environment(tmp_path), "Worker__Logging__Format": "json"}

    result = mgrid("kpi", "run", "Deposits", cwd=tmp_path, **env)

    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    [opened] = [line for line in map(json.loads, result.stderr.splitlines()) if "opened" in line["message"]]
    assert opened["logger"] == "mgrid.events"
    assert opened["execution_id"] == run["execution_id"]
    assert opened["alert_id"] == run["alerts"][0]["id"]
    assert isinstance(opened["kpi_id"], int)
