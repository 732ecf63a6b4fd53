"""Every statement backtest, backfill and dry run send to the monitoring database compiles for SQL Server:
captured from real runs on SQLite, then compiled with the mssql dialect (no SQL Server here)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.dialects import mssql
from sqlalchemy.sql import ClauseElement

from shared.domain.kpi import Baseline, BaselineMode, Rule
from shared.services.backfill import Backfiller
from shared.services.backtest import Backtester
from shared.services.manual_run import dry_run
from shared.settings import Settings
from shared.sources import SourceRunner
from tests.conftest import Database
from tests.contract.replay_source import Series, hourly_kpi
from tests.factories import NOW, insert_kpi

VERDICTS = (
    "SELECT historical_data.metric_key, historical_data.window_end, historical_data.value,"
    " historical_data.breach \nFROM historical_data"
)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize("mode", [BaselineMode.HISTORY, BaselineMode.SEASONAL])
def test_every_replay_statement_compiles_for_sql_server(
    database: Database, source_series: Series, source_runner: SourceRunner, mode: BaselineMode
) -> None:
    captured: list[ClauseElement] = []

    @event.listens_for(database.engine, "before_execute")
    def capture(_conn: Any, clause: Any, *_args: Any) -> None:
        if isinstance(clause, ClauseElement):
            captured.append(clause)

    source_series.add([(NOW - timedelta(hours=h), 10) for h in range(1, 48)])
    rule = Rule(deviation_percent=20, baseline=Baseline(mode=mode, weeks_back=1))
    with database.engine.begin() as connection:
        insert_kpi(connection, hourly_kpi(rule=rule), next_run_at=NOW)
    settings = Settings.load()
    Backfiller(database.engine, source_runner, settings).run("Deposits", weeks=1, now=NOW)
    Backtester(database.engine, source_runner, settings).run("1", start=NOW - timedelta(days=1), end=NOW)
    dry_run(database.engine, source_runner, settings, "Deposits", now=NOW)

    compiled = {str(clause.compile(dialect=mssql.dialect())) for clause in captured}
    assert any("UNION" in sql and "kpi_executions" in sql for sql in compiled)  # the slots already filled
    assert any(sql.startswith("INSERT INTO kpi_executions") for sql in compiled)
    assert any(sql.startswith("INSERT INTO historical_data") for sql in compiled)
    assert any("FROM metric_states" in sql for sql in compiled)  # the dry run's streaks
    if mode is BaselineMode.SEASONAL:  # the latest verdicts a run of slots reads (backfill, dry run)
        assert any(sql.startswith(VERDICTS) for sql in compiled)
