"""`mgrid kpi backfill` on SQLite and PostgreSQL, against a real source: the last N weeks of slots stored
oldest first as the executor stores them (verdict and band included, so a breach is flagged and left out of
later baselines), nothing else moved, and a second run stores nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from shared.db.tables import historical_data, kpi_executions, kpis
from shared.domain.kpi import Baseline, BaselineMode, KpiKind, Rule, Schedule
from shared.errors import InvalidRange, KpiNotReplayable, ReplayStopped
from shared.services.backfill import Backfiller
from shared.settings import Settings
from shared.sources import SourceRunner
from tests.conftest import Database
from tests.contract.replay_source import Series, hourly_kpi, row_counts
from tests.factories import NOW, insert_kpi, make_kpi

SIX_HOURLY = Schedule(frequency_minutes=360)
SEASONAL = Rule(deviation_percent=0, baseline=Baseline(mode=BaselineMode.SEASONAL, weeks_back=3, tolerance=4))
INCIDENT = NOW - timedelta(weeks=1)


def backfiller(database: Database, runner: SourceRunner) -> Backfiller:
    return Backfiller(database.engine, runner, Settings.load())


def seasonal_kpi_with_four_weeks(database: Database, series: Series) -> int:
    """A six-hourly seasonal KPI due at NOW, and a source of 100 at every slot of the four weeks before it
    but 400 one week before NOW."""
    slots = [NOW - timedelta(hours=6 * i) for i in range(1, 4 * 28 + 1)]
    series.add([(slot, 400 if slot == INCIDENT else 100) for slot in slots])
    with database.engine.begin() as connection:
        return insert_kpi(connection, hourly_kpi(schedule=SIX_HOURLY, rule=SEASONAL), next_run_at=NOW)


def test_backfill_stores_each_slot_as_the_executor_would_and_a_second_run_stores_nothing(
    database: Database, source_series: Series, source_runner: SourceRunner
) -> None:
    kpi_id = seasonal_kpi_with_four_weeks(database, source_series)
    before = row_counts(database.engine)
    with database.engine.connect() as connection:
        kpi_row = connection.execute(select(kpis)).mappings().one()

    result = backfiller(database, source_runner).run("Deposits", weeks=4, now=NOW)

    assert result.to_dict() == {"kpi": "Deposits", "slots": 112, "stored": 112}
    after = row_counts(database.engine)
    grown = {table: after[table] - before[table] for table in after if after[table] != before[table]}
    assert grown == {"kpi_executions": 112, "historical_data": 112}  # no alert, event, streak, slot, outbox
    with database.engine.connect() as connection:
        # failures, last success, next run: as they were
        assert connection.execute(select(kpis)).mappings().one() == kpi_row
        runs = connection.execute(select(kpi_executions)).mappings().all()
        stored = {
            row.window_end: row
            for row in connection.execute(select(historical_data).where(historical_data.c.kpi_id == kpi_id))
        }
    assert {(r["triggered_by"], r["status"], r["metric_count"]) for r in runs} == {("manual", "succeeded", 1)}
    assert all(r["finished_at"] == r["slot"] for r in runs)  # never counted as a recent execution
    assert (min(stored), max(stored)) == (NOW - timedelta(weeks=4), NOW - timedelta(hours=6))
    incident = stored[INCIDENT]
    assert (incident.value, incident.breach, incident.expected) == (400, True, 100)
    assert incident.lower < 100 < incident.upper < 400
    assert stored[NOW - timedelta(weeks=4)].expected is None  # no earlier weeks yet: no band, no breach
    assert not any(row.breach for at, row in stored.items() if at != INCIDENT)

    again = backfiller(database, source_runner).run("deposits", weeks=4, now=NOW)
    assert again.to_dict() == {"kpi": "Deposits", "slots": 112, "stored": 0}
    assert row_counts(database.engine) == after


def test_backfill_skips_slots_that_already_ran_and_stops_at_the_next_scheduled_slot(
    database: Database, source_series: Series, source_runner: SourceRunner
) -> None:
    source_series.add([(NOW - timedelta(hours=h), 10) for h in range(1, 5)])
    with database.engine.begin() as connection:
        kpi_id = insert_kpi(connection, hourly_kpi(), next_run_at=NOW - timedelta(hours=1))
        connection.execute(
            kpi_executions.insert().values(
                id=uuid.uuid4(),
                kpi_id=kpi_id,
                slot=NOW - timedelta(hours=3),
                triggered_by="scheduled",
                status="failed",
                created_at=NOW,
            )
        )

    result = backfiller(database, source_runner).run("Deposits", weeks=1, now=NOW)

    assert (result.slots, result.stored) == (
        167,
        166,
    )  # a week of hours before the next run, but the failed one
    with database.engine.connect() as connection:
        slots = set(connection.scalars(select(kpi_executions.c.slot)))
    assert NOW - timedelta(hours=1) not in slots  # the scheduler's, not the backfill's


def test_a_failing_query_stops_the_backfill_at_its_slot_keeping_what_was_stored(
    database: Database, source_runner: SourceRunner, source_series: Series
) -> None:
    broken = "SELECT k AS key, nope AS current_value FROM series WHERE at < :window_end"
    with database.engine.begin() as connection:
        insert_kpi(connection, hourly_kpi(sql_text=broken), next_run_at=NOW)
    with pytest.raises(ReplayStopped, match=r"stopped at slot 2026-11-21T12:00:00\+00:00 \(0 slots stored"):
        backfiller(database, source_runner).run("Deposits", weeks=1, now=NOW)
    assert row_counts(database.engine)["kpi_executions"] == 0


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_procedure_kpi_or_a_number_of_weeks_out_of_range_is_refused(
    database: Database, source_runner: SourceRunner
) -> None:
    with database.engine.begin() as connection:
        insert_kpi(connection, make_kpi(indicator="Proc", kind=KpiKind.PROCEDURE, sql_text="dbo.usp_Monitor"))
        insert_kpi(connection, hourly_kpi())
    with pytest.raises(KpiNotReplayable, match="stored procedure"):
        backfiller(database, source_runner).run("Proc", weeks=1, now=NOW)
    for weeks in (0, 53):
        with pytest.raises(InvalidRange, match="--weeks must be between 1 and 52"):
            backfiller(database, source_runner).run("Deposits", weeks=weeks, now=NOW)
