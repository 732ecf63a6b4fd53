"""`mgrid cleanup` and `mgrid maintenance` as an operator runs them: real processes on SQLite and PostgreSQL,
their reports as text or one JSON document, exit code 1 when something failed."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, text

from shared.db.tables import dead_letters, historical_data
from tests.cli.test_cli import mgrid
from tests.conftest import Database
from tests.factories import insert_kpi, make_kpi


def seed_expired_rows(database: Database) -> None:
    """Two history rows and a dead letter past retention, one history row and a dead letter inside it."""
    now = datetime.now(UTC)
    with database.engine.begin() as connection:
        kpi_id = insert_kpi(connection, make_kpi())
        connection.execute(
            insert(historical_data),
            [
                {
                    "kpi_id": kpi_id,
                    "execution_id": uuid.uuid4(),
                    "metric_key": "k",
                    "window_start": end - timedelta(hours=1),
                    "window_end": end,
                    "value": 1.0,
                    "recorded_at": end,
                }
                for end in (now - timedelta(days=100), now - timedelta(days=95), now - timedelta(days=1))
            ],
        )
        connection.execute(
            insert(dead_letters),
            [
                {"queue": "alert-events", "reason": "malformed", "received_at": at}
                for at in (now - timedelta(days=40), now - timedelta(days=1))
            ],
        )


def remaining(database: Database, table: object) -> int:
    with database.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


def test_cleanup_prints_the_rows_deleted_per_table_as_json(database: Database, tmp_path: Path) -> None:
    seed_expired_rows(database)

    result = mgrid("cleanup", "--json", cwd=tmp_path, ConnectionStrings__Monitoring=database.url)

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["complete"] is True
    assert report["deleted"]["historical_data"] == 2
    assert report["deleted"]["dead_letters"] == 1
    assert report["total"] == 3
    assert report["errors"] == {}
    assert (remaining(database, historical_data), remaining(database, dead_letters)) == (1, 1)


def test_cleanup_prints_a_line_per_table_and_the_outcome_as_text(database: Database, tmp_path: Path) -> None:
    seed_expired_rows(database)

    result = mgrid("cleanup", cwd=tmp_path, ConnectionStrings__Monitoring=database.url)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["historical_data", "2", "deleted"]
    assert lines[-1].startswith("complete: 3 rows in ")


def test_cleanup_exits_1_naming_the_table_it_could_not_clean(database: Database, tmp_path: Path) -> None:
    seed_expired_rows(database)
    with database.engine.begin() as connection:
        connection.execute(text("DROP TABLE dead_letters"))

    result = mgrid("cleanup", "--json", cwd=tmp_path, ConnectionStrings__Monitoring=database.url)

    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert list(report["errors"]) == ["dead_letters"]
    assert report["deleted"]["historical_data"] == 2
    assert report["complete"] is False


def test_maintenance_reports_every_step_as_json(database: Database, tmp_path: Path) -> None:
    result = mgrid("maintenance", "--json", cwd=tmp_path, ConnectionStrings__Monitoring=database.url)

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["failed"] is False
    names = [step["name"] for step in report["steps"]]
    if database.backend == "sqlite":
        assert names == ["analyze", "pragma optimize", "incremental vacuum"]
    else:
        assert names[0].startswith("vacuum analyze ")
        assert names[-1] == "find bloated indexes"
    assert all(step["status"] in {"ok", "skipped"} for step in report["steps"])
    assert all({"name", "status", "duration_ms", "detail"} == set(step) for step in report["steps"])


# SQLite's steps name no table, so a missing one fails only PostgreSQL's vacuum of it.
@pytest.mark.postgres
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_maintenance_exits_1_when_a_step_fails_and_still_runs_the_others(
    database: Database, tmp_path: Path
) -> None:
    with database.engine.begin() as connection:
        connection.execute(text("DROP TABLE source_slots"))

    result = mgrid("maintenance", cwd=tmp_path, ConnectionStrings__Monitoring=database.url)

    assert result.returncode == 1, result.stdout + result.stderr
    failed = [line for line in result.stdout.splitlines() if line.startswith("failed ")]
    assert len(failed) == 1
    assert "vacuum analyze source_slots: ProgrammingError" in failed[0]
    assert "vacuum analyze kpis: vacuumed and analyzed" in result.stdout
    assert "find bloated indexes" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("maintenance: a step failed, ")


def test_both_commands_say_when_scheduled_tasks_are_disabled(tmp_path: Path) -> None:
    for command in ("cleanup", "maintenance"):
        result = mgrid(command, cwd=tmp_path, Worker__ScheduledTasks__Enabled="false")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"{command} is disabled (Worker__ScheduledTasks__Enabled)"
