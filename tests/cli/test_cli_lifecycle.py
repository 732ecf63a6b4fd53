"""`mgrid kpi delete`, `mgrid contacts delete` and `mgrid kpi import FILE --prune [--yes]` as real processes
on a SQLite monitoring database: JSON output, exit codes, and nothing changed without `--yes`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli import mgrid
from tests.cli.test_cli_kpi_run import deposits_environment


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return deposits_environment(tmp_path)


def run_json(tmp_path: Path, env: dict[str, str], *args: str) -> Any:
    result = mgrid(*args, "--json", cwd=tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_kpi_delete_resolves_its_open_alert_and_removes_the_kpi_with_its_history(
    tmp_path: Path, env: dict[str, str]
) -> None:
    assert json.loads(mgrid("kpi", "run", "Deposits", cwd=tmp_path, **env).stdout)["alerts"]

    deleted = run_json(tmp_path, env, "kpi", "delete", "deposits", "--by", "alice")

    assert deleted["kpi"]["indicator"] == "Deposits"
    assert len(deleted["resolved_alerts"]) == 1
    assert (deleted["removed"]["kpis"], deleted["removed"]["historical_data"]) == (1, 1)
    assert run_json(tmp_path, env, "kpi", "list") == []
    assert run_json(tmp_path, env, "alerts", "list") == []
    missing = mgrid("kpi", "delete", "Deposits", cwd=tmp_path, **env)
    assert missing.returncode == 1
    assert "no KPI with id or indicator 'Deposits'" in missing.stderr


def test_prune_lists_without_yes_and_applies_with_it(tmp_path: Path, env: dict[str, str]) -> None:
    assert json.loads(mgrid("kpi", "run", "Deposits", cwd=tmp_path, **env).stdout)["alerts"]  # history, alert
    (tmp_path / "empty.yaml").write_text("contacts: []\nkpis: []\n", encoding="utf-8")

    planned = run_json(tmp_path, env, "kpi", "import", "empty.yaml", "--prune")
    text = mgrid("kpi", "import", "empty.yaml", "--prune", cwd=tmp_path, **env)

    assert (planned["applied"], planned["delete"]["kpis"]) == (False, ["Deposits"])
    assert text.stdout.strip() == "would delete KPI Deposits (add --yes to apply)"
    assert [kpi["indicator"] for kpi in run_json(tmp_path, env, "kpi", "list")] == ["Deposits"]
    assert len(run_json(tmp_path, env, "alerts", "list")) == 1
    applied = run_json(tmp_path, env, "kpi", "import", "empty.yaml", "--prune", "--yes")
    [deleted] = applied["deleted"]
    assert (applied["applied"], deleted["kpi"]["indicator"], len(deleted["resolved_alerts"])) == (
        True,
        "Deposits",
        1,
    )
    assert (deleted["removed"]["historical_data"], deleted["removed"]["alerts"]) == (1, 1)
    assert run_json(tmp_path, env, "kpi", "list") == []
    assert run_json(tmp_path, env, "alerts", "list", "--status", "resolved") == []


def test_contacts_delete_removes_a_contact_and_an_unknown_one_is_an_error(
    tmp_path: Path, env: dict[str, str]
) -> None:
    (tmp_path / "ops.yaml").write_text(
        "contacts:\n  - {name: Ops, email: ops@example.test}\n", encoding="utf-8"
    )
    assert mgrid("kpi", "import", "ops.yaml", cwd=tmp_path, **env).returncode == 0

    deleted = run_json(tmp_path, env, "contacts", "delete", "ops")

    assert deleted == {"contact": "Ops", "kpis": [], "deliveries_removed": 0}
    unknown = mgrid("contacts", "delete", "Ops", cwd=tmp_path, **env)
    assert (unknown.returncode, unknown.stdout) == (1, "")
    assert "no contact named 'Ops'" in unknown.stderr
