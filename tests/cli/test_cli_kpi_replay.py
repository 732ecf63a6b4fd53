"""`mgrid kpi backtest`, `mgrid kpi backfill` and `mgrid kpi run --dry-run` in a real process: their JSON,
exit codes and messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cli.test_cli import mgrid
from tests.cli.test_cli_kpi_run import DEFINITIONS, deposits_environment

RUN_KEYS = {"execution_id", "kpi", "status", "duration_ms", "error", "metrics", "alerts"}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return deposits_environment(tmp_path)


def hour_ago() -> tuple[str, str]:
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    return (end - timedelta(hours=1)).isoformat(), end.isoformat()


def test_backtest_prints_the_slots_evaluations_and_episodes_of_the_range(
    tmp_path: Path, env: dict[str, str]
) -> None:
    start, end = hour_ago()
    result = mgrid("kpi", "backtest", "Deposits", "--from", start, "--to", end, "--json", cwd=tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # progress only for ranges longer than a batch
    outcome = json.loads(result.stdout)
    assert set(outcome) == {"kpi", "from", "to", "slots", "evaluations", "episodes"}
    assert (outcome["kpi"], outcome["from"], outcome["to"], outcome["slots"]) == ("Deposits", start, end, 12)
    assert len(outcome["evaluations"]) == 12
    assert {tuple(e) for e in outcome["evaluations"]} == {
        ("slot", "key", "current", "expected", "lower", "upper", "breach")
    }
    assert all(e["breach"] for e in outcome["evaluations"])  # at most 10 deposits against 100
    (episode,) = outcome["episodes"]
    assert episode == {
        "key": "TotalDeposits",
        "opened_at": outcome["evaluations"][0]["slot"],
        "resolved_at": None,
    }
    assert json.loads(mgrid("alerts", "list", "--json", cwd=tmp_path, **env).stdout) == []  # nothing written


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-11-02T00:00:00Z", "2026-11-01T00:00:00Z", "must be before --to"),
        ("2025-01-01", "2026-11-01", "at most 366 are allowed"),
        ("yesterday", "2026-11-01", "argument --from: not an ISO 8601 time: 'yesterday'"),
    ],
)
def test_backtest_refuses_an_unusable_range_with_exit_code_2(
    tmp_path: Path, start: str, end: str, message: str
) -> None:
    env = {"ConnectionStrings__Monitoring": f"sqlite:///{tmp_path / 'never-opened.db'}"}
    result = mgrid("kpi", "backtest", "Deposits", "--from", start, "--to", end, cwd=tmp_path, **env)
    assert (result.returncode, result.stdout) == (2, "")
    assert message in result.stderr
    assert not (tmp_path / "never-opened.db").exists()  # refused before touching any database


def test_backtest_of_a_procedure_kpi_fails_with_a_clear_message(tmp_path: Path, env: dict[str, str]) -> None:
    procedure = DEFINITIONS.replace("indicator: Deposits", "indicator: Ledger")
    query = procedure[procedure.index("    query:") : procedure.index("    frequency_minutes:")]
    procedure = procedure.replace(query, '    procedure: "[monitoring].[usp_Ledger]"\n')
    (tmp_path / "ledger.yaml").write_text(procedure, encoding="utf-8")
    assert mgrid("kpi", "import", "ledger.yaml", cwd=tmp_path, **env).returncode == 0
    start, end = hour_ago()
    result = mgrid("kpi", "backtest", "Ledger", "--from", start, "--to", end, cwd=tmp_path, **env)
    assert (result.returncode, result.stdout) == (1, "")
    assert "KPI Ledger cannot be replayed: it runs a stored procedure" in result.stderr


def test_backfill_stores_a_week_once_with_progress_on_stderr(tmp_path: Path, env: dict[str, str]) -> None:
    first = mgrid("kpi", "backfill", "Deposits", "--weeks", "1", cwd=tmp_path, **env)
    assert first.returncode == 0, first.stderr
    outcome = json.loads(first.stdout)
    assert set(outcome) == {"kpi", "slots", "stored"}
    assert outcome["kpi"] == "Deposits"
    assert outcome["slots"] in {2015, 2016}  # a week of 5-minute slots before the next scheduled one
    assert outcome["stored"] == outcome["slots"]
    assert f"backfill Deposits: 500/{outcome['slots']} slots" in first.stderr
    again = json.loads(mgrid("kpi", "backfill", "1", "--weeks", "1", "--json", cwd=tmp_path, **env).stdout)
    assert again["stored"] == 0
    assert mgrid("kpi", "backfill", "Deposits", "--weeks", "0", cwd=tmp_path, **env).returncode == 2


def test_dry_run_prints_the_run_json_and_writes_nothing_even_for_an_inactive_kpi(
    tmp_path: Path, env: dict[str, str]
) -> None:
    (tmp_path / "off.yaml").write_text(DEFINITIONS + "    is_active: false\n", encoding="utf-8")
    assert mgrid("kpi", "import", "off.yaml", cwd=tmp_path, **env).returncode == 0

    plain = mgrid("kpi", "run", "Deposits", cwd=tmp_path, **env)
    assert (plain.returncode, plain.stdout) == (1, "")
    assert "KPI Deposits is inactive: activate it, or use --dry-run" in plain.stderr

    result = mgrid("kpi", "run", "Deposits", "--dry-run", "--json", cwd=tmp_path, **env)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert set(outcome) == RUN_KEYS | {"dry_run"}
    assert (outcome["dry_run"], outcome["execution_id"], outcome["status"]) == (True, None, "succeeded")
    assert [m["current"] for m in outcome["metrics"]] == [10.0]
    assert outcome["alerts"] == [{"id": None, "transition": "opened"}]
    assert json.loads(mgrid("alerts", "list", "--json", cwd=tmp_path, **env).stdout) == []
