"""`mgrid` as an operator runs it: a real process, real databases, exit codes and output streams."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.db import migrate
from tests.conftest import Database

REPO_ROOT = Path(__file__).resolve().parents[2]


def mgrid(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO_ROOT), **env}
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=60,
        check=False,
    )


def test_db_upgrade_current_and_downgrade_on_both_databases(empty_database: Database, tmp_path: Path) -> None:
    env = {"ConnectionStrings__Monitoring": empty_database.url}
    assert json.loads(mgrid("db", "current", "--json", cwd=tmp_path, **env).stdout)["current"] is None

    upgraded = mgrid("db", "upgrade", cwd=tmp_path, **env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.strip().endswith(f"is at revision {migrate.head()}")
    state = json.loads(mgrid("db", "current", "--json", cwd=tmp_path, **env).stdout)
    assert state["current"] == state["head"] == migrate.head()

    downgraded = mgrid("db", "downgrade", "base", cwd=tmp_path, **env)
    assert downgraded.returncode == 0, downgraded.stderr
    assert json.loads(mgrid("db", "current", "--json", cwd=tmp_path, **env).stdout)["current"] is None


def test_the_default_database_is_an_sqlite_file_under_dot_data(tmp_path: Path) -> None:
    result = mgrid("db", "upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".data" / "monitoring.db").is_file()


def test_settings_show_prints_json_with_secrets_masked(tmp_path: Path) -> None:
    result = mgrid(
        "settings",
        "show",
        "--json",
        cwd=tmp_path,
        ConnectionStrings__Monitoring="postgresql://monitor:hunter2@db/monitoring",
        ConnectionStrings__Sources__Main="postgresql://reader:swordfish@db/main",
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["ConnectionStrings__Monitoring"] == "postgresql://monitor:***@db/monitoring"
    assert shown["ConnectionStrings__Sources__main"] == "postgresql://reader:***@db/main"
    assert shown["Worker__KpiMonitoring__MaxParallelKpis"] == 5
    assert "hunter2" not in result.stdout + result.stderr


def test_invalid_settings_exit_2_with_every_problem_on_stderr(tmp_path: Path) -> None:
    result = mgrid(
        "settings",
        "show",
        cwd=tmp_path,
        Worker__KpiMonitoring__MaxParallelKpis="0",
        Worker__HealthChecks__TimeoutSeconds="500",
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "invalid settings (2)" in result.stderr
    assert "Worker__KpiMonitoring__MaxParallelKpis = '0'" in result.stderr
    assert "Worker__HealthChecks__TimeoutSeconds = '500'" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_database_exits_1_with_a_message_not_a_traceback(tmp_path: Path) -> None:
    result = mgrid(
        "db", "upgrade", cwd=tmp_path, ConnectionStrings__Monitoring="postgresql://m:secret@127.0.0.1:9/x"
    )
    assert result.returncode == 1
    assert result.stderr.startswith("mgrid: OperationalError")
    assert "Traceback" not in result.stderr


def test_local_settings_json_supplies_values_the_environment_does_not_set(tmp_path: Path) -> None:
    values = {"Worker__AlertProcessing__BatchSize": 42, "Worker__KpiMonitoring__MaxParallelKpis": 9}
    (tmp_path / "local.settings.json").write_text(json.dumps({"IsEncrypted": False, "Values": values}))
    result = mgrid("settings", "show", "--json", cwd=tmp_path, Worker__KpiMonitoring__MaxParallelKpis="3")
    shown = json.loads(result.stdout)
    assert shown["Worker__AlertProcessing__BatchSize"] == 42
    assert shown["Worker__KpiMonitoring__MaxParallelKpis"] == 3  # the environment wins


def test_a_broken_settings_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    result = mgrid("--settings-file", "broken.json", "settings", "show", cwd=tmp_path)
    assert result.returncode == 2
    assert "broken.json: cannot read local settings" in result.stderr


# A migrated database without KPIs is Degraded (nothing is monitored), which still exits 0.
@pytest.mark.parametrize(("migrated", "code", "status"), [(True, 0, "Degraded"), (False, 1, "Unhealthy")])
def test_health_prints_the_endpoint_json_and_fails_when_unhealthy(
    tmp_path: Path, migrated: bool, code: int, status: str
) -> None:
    if migrated:
        mgrid("db", "upgrade", cwd=tmp_path)
        mgrid("alerts", "process", cwd=tmp_path)  # until the processor has run once, health is Degraded
    result = mgrid("health", "--json", cwd=tmp_path)
    assert result.returncode == code
    assert json.loads(result.stdout)["status"] == status
