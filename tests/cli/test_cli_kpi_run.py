"""`mgrid kpi run KPI`: a real process runs a KPI now, through the executor's path, and prints the outcome."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cli.test_cli import mgrid

DEFINITIONS = """\
kpis:
  - indicator: Deposits
    owner: Payments
    priority: 1
    source: main
    query: >-
      SELECT 'TotalDeposits' AS key, COUNT(*) AS current_value, 100 AS historical_value
      FROM deposits WHERE at >= :window_start AND at < :window_end
    frequency_minutes: 5
    last_minutes: 60
    deviation_percent: 20
    baseline: {mode: source}
    subject_template: "{Indicator}: {CurrentValue} vs {HistoricalValue}"
    description_template: "{Indicator} moved {DeviationPercent}%"
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return deposits_environment(tmp_path)


def deposits_environment(tmp_path: Path) -> dict[str, str]:
    """A migrated monitoring database with the Deposits KPI imported, and a source where it breaches."""
    source = tmp_path / "source.db"
    with sqlite3.connect(source) as connection:
        connection.execute("CREATE TABLE deposits (at TEXT NOT NULL)")
        recent = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y-%m-%d %H:%M:%S")
        connection.executemany("INSERT INTO deposits VALUES (?)", [(recent,)] * 10)
    settings = {
        "ConnectionStrings__Monitoring": f"sqlite:///{tmp_path / 'monitoring.db'}",
        "ConnectionStrings__Sources__main": f"sqlite:///{source}",
    }
    assert mgrid("db", "upgrade", cwd=tmp_path, **settings).returncode == 0
    (tmp_path / "kpis.yaml").write_text(DEFINITIONS, encoding="utf-8")
    imported = mgrid("kpi", "import", "kpis.yaml", cwd=tmp_path, **settings)
    assert imported.returncode == 0, imported.stderr
    return settings


def test_kpi_run_prints_the_execution_its_metrics_and_the_alert_it_opened(
    tmp_path: Path, env: dict[str, str]
) -> None:
    result = mgrid("kpi", "run", "deposits", cwd=tmp_path, **env)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert set(outcome) == {"execution_id", "kpi", "status", "duration_ms", "error", "metrics", "alerts"}
    assert (outcome["kpi"], outcome["status"], outcome["error"]) == ("Deposits", "succeeded", None)
    assert outcome["metrics"] == [
        {
            "key": "TotalDeposits",
            "current": 10.0,
            "baseline": 100.0,
            "deviation_percent": -90.0,
            "expected": None,
            "lower": None,
            "upper": None,
            "breach": True,
            "no_data": False,
        }
    ]
    (alert,) = outcome["alerts"]
    assert alert["transition"] == "opened"

    again = json.loads(mgrid("kpi", "run", "1", cwd=tmp_path, **env).stdout)  # by id; the alert stays open
    assert again["execution_id"] != outcome["execution_id"]
    # re-triggered inside its cooldown: the transition is recorded, but nobody is told again
    assert again["alerts"] == [{"id": alert["id"], "transition": "retriggered"}]


def test_kpi_run_of_an_unknown_kpi_fails_with_a_message(tmp_path: Path, env: dict[str, str]) -> None:
    result = mgrid("kpi", "run", "Withdrawals", cwd=tmp_path, **env)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "no KPI with id or indicator 'Withdrawals'" in result.stderr


def test_kpi_run_of_a_failing_kpi_exits_1_with_the_error_in_the_json(
    tmp_path: Path, env: dict[str, str]
) -> None:
    with sqlite3.connect(tmp_path / "source.db") as connection:
        connection.execute("DROP TABLE deposits")
    result = mgrid("kpi", "run", "Deposits", cwd=tmp_path, **env)
    assert result.returncode == 1
    outcome = json.loads(result.stdout)
    assert outcome["status"] == "failed"
    assert "no such table: deposits" in outcome["error"]


def test_alerts_list_shows_the_alert_a_run_opened(tmp_path: Path, env: dict[str, str]) -> None:
    assert mgrid("alerts", "list", cwd=tmp_path, **env).stdout.strip() == "no alerts"
    opened = json.loads(mgrid("kpi", "run", "Deposits", cwd=tmp_path, **env).stdout)["alerts"][0]["id"]
    listed = json.loads(mgrid("alerts", "list", "--status", "open", "--json", cwd=tmp_path, **env).stdout)
    assert [(a["id"], a["indicator"], a["metric_key"], a["status"]) for a in listed] == [
        (opened, "Deposits", "TotalDeposits", "open")
    ]
    assert (
        json.loads(mgrid("alerts", "list", "--status", "resolved", "--json", cwd=tmp_path, **env).stdout)
        == []
    )
    text = mgrid("alerts", "list", cwd=tmp_path, **env).stdout
    assert "Deposits / TotalDeposits" in text
    assert "deviation=-90.0" in text
