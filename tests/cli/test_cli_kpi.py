"""`mgrid kpi import|export|list` as an operator runs them: a real process on a real SQLite database."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cli.test_cli import mgrid

DEFINITIONS = """\
contacts:
  - {name: Ops, email: ops@example.com, phone: "+441234567890"}
kpis:
  - indicator: Deposits
    owner: Payments
    priority: 1
    source: Main
    query: |
      SELECT 'TotalDeposits' AS key, COUNT(*) AS current_value
      FROM deposits WHERE at >= :window_start AND at < :window_end
    frequency_minutes: 5
    last_minutes: 60
    deviation_percent: 20
    subject_template: "{Indicator}: {CurrentValue} vs {HistoricalValue} ({DeviationPercent}%)"
    description_template: "{Indicator} moved {DeviationPercent}% in {WindowStart}-{WindowEnd}"
    contacts: [{name: Ops, level: 0}]
  - indicator: Logins
    owner: Identity
    priority: 2
    source: main
    procedure: "[monitoring].[usp_MonitorLogins]"
    schedule: {cron: "0 */15 8-18 * * 1-5", timezone: Europe/London}
    last_minutes: 15
    deviation_percent: 50
    threshold: {operator: lt, value: 10}
    subject_template: "{Indicator}"
    description_template: "{Indicator}"
    is_active: false
"""
UNCHANGED = (
    "contacts: 0 created, 0 updated, 1 unchanged\nkpis: 0 created, 0 updated, 2 unchanged\n"
    "silences: 0 created, 0 updated, 0 unchanged\n"
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    settings = {
        "ConnectionStrings__Monitoring": f"sqlite:///{tmp_path / 'monitoring.db'}",
        "ConnectionStrings__Sources__main": f"sqlite:///{tmp_path / 'source.db'}",
    }
    upgraded = mgrid("db", "upgrade", cwd=tmp_path, **settings)
    assert upgraded.returncode == 0, upgraded.stderr
    return settings


def imported(
    tmp_path: Path, env: dict[str, str], text: str, name: str = "kpis.yaml"
) -> subprocess.CompletedProcess[str]:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return mgrid("kpi", "import", name, cwd=tmp_path, **env)


def test_import_reports_what_it_created_and_a_second_import_changes_nothing(
    tmp_path: Path, env: dict[str, str]
) -> None:
    first = imported(tmp_path, env, DEFINITIONS)
    assert first.returncode == 0, first.stderr
    assert (
        first.stdout
        == "contacts: 1 created, 0 updated, 0 unchanged\nkpis: 2 created, 0 updated, 0 unchanged\n"
        "silences: 0 created, 0 updated, 0 unchanged\n"
    )
    again = mgrid("kpi", "import", "kpis.yaml", "--json", cwd=tmp_path, **env)
    assert json.loads(again.stdout) == {
        "contacts": {"created": 0, "updated": 0, "unchanged": 1},
        "kpis": {"created": 0, "updated": 0, "unchanged": 2},
        "silences": {"created": 0, "updated": 0, "unchanged": 0},
    }


def test_a_bad_file_exits_2_listing_every_problem_and_changes_nothing(
    tmp_path: Path, env: dict[str, str]
) -> None:
    bad = (
        DEFINITIONS.replace("deviation_percent: 20", "deviation_percent: -20")
        .replace("source: main", "source: dwh")
        .replace("{Indicator}: {CurrentValue}", "{frequency}: {current}")
    )
    result = imported(tmp_path, env, bad)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "mgrid: invalid definitions (3):"
    assert lines[1] == "  - kpis[0] (Deposits).deviation_percent: must be >= 0"
    assert lines[2].startswith(
        "  - kpis[0] (Deposits).subject_template: unknown placeholders {frequency}, {current};"
    )
    assert lines[3] == (
        "  - kpis[1] (Logins).source: unknown source 'dwh'; configured sources: main "
        "(ConnectionStrings__Sources__<name>)"
    )
    assert len(lines) == 4
    assert json.loads(mgrid("kpi", "list", "--json", cwd=tmp_path, **env).stdout) == []


def test_a_file_that_is_not_valid_yaml_exits_2(tmp_path: Path, env: dict[str, str]) -> None:
    result = imported(tmp_path, env, "kpis: [\n")
    assert result.returncode == 2
    assert result.stderr.splitlines()[1].startswith("  - invalid YAML at line 2 column 1: ")


@pytest.mark.parametrize("arguments", [(), ("--format", "json"), ("--output", "exported.json")])
def test_export_output_reimports_unchanged(
    tmp_path: Path, env: dict[str, str], arguments: tuple[str, ...]
) -> None:
    assert imported(tmp_path, env, DEFINITIONS).returncode == 0
    exported = mgrid("kpi", "export", *arguments, cwd=tmp_path, **env)
    assert exported.returncode == 0, exported.stderr
    text = (
        (tmp_path / "exported.json").read_text(encoding="utf-8")
        if "--output" in arguments
        else exported.stdout
    )
    if arguments:
        assert json.loads(text)["kpis"][1]["procedure"] == "[monitoring].[usp_MonitorLogins]"
    else:
        assert text.startswith("contacts:\n- name: Ops\n")
    result = imported(tmp_path, env, text, name="exported.yaml" if not arguments else "exported.json")
    assert result.returncode == 0, result.stderr
    assert result.stdout == UNCHANGED


def test_list_json_prints_one_document_with_every_kpi(tmp_path: Path, env: dict[str, str]) -> None:
    assert imported(tmp_path, env, DEFINITIONS).returncode == 0
    result = mgrid("kpi", "list", "--json", cwd=tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1
    listed = json.loads(result.stdout)
    assert [(row["indicator"], row["source"], row["schedule"], row["is_active"]) for row in listed] == [
        ("Deposits", "main", "every 5 min", True),
        ("Logins", "main", "cron 0 */15 8-18 * * 1-5 (Europe/London)", False),
    ]
    assert listed[0]["next_run_at"].endswith("+00:00")
    assert listed[1]["next_run_at"] is None


def test_list_prints_a_table_for_people(tmp_path: Path, env: dict[str, str]) -> None:
    assert mgrid("kpi", "list", cwd=tmp_path, **env).stdout == "no KPIs\n"
    assert imported(tmp_path, env, DEFINITIONS).returncode == 0
    header, deposits, logins = mgrid("kpi", "list", cwd=tmp_path, **env).stdout.splitlines()
    assert header.split() == [
        "id",
        "indicator",
        "owner",
        "priority",
        "source",
        "schedule",
        "is_active",
        "next_run_at",
    ]
    assert deposits.split()[1:7] == ["Deposits", "Payments", "1", "main", "every", "5"]
    assert logins.endswith("False      -")
