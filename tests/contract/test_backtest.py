"""`mgrid kpi backtest` on SQLite and PostgreSQL, against a real source: every slot of a past range judged as
the executor would, warm-up slots replayed for the baseline (their breaches left out of later seasonal
baselines), alert episodes by fire_after / resolve_after, and nothing written."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.domain.kpi import AlertPolicy, Baseline, BaselineMode, KpiKind, Rule, Threshold, ThresholdOperator
from shared.errors import InvalidRange, KpiNotReplayable
from shared.services.backtest import Backtester
from shared.settings import Settings
from shared.sources import SourceRunner
from tests.conftest import Database
from tests.contract.replay_source import Series, hourly_kpi, row_counts
from tests.factories import NOW, insert_kpi, make_kpi

ABOVE_50 = Rule(
    deviation_percent=20,
    threshold=Threshold(operator=ThresholdOperator.GT, value=50),
    baseline=Baseline(mode=BaselineMode.SOURCE),
)
#: Every hour's value by the number of weeks (rounded) it lies before NOW.
WEEKLY = {0: 101, 1: 100, 2: 102, 3: 102, 4: 100, 5: 101}
SEASONAL = Rule(deviation_percent=0, baseline=Baseline(mode=BaselineMode.SEASONAL, weeks_back=4, tolerance=4))


def backtester(database: Database, runner: SourceRunner) -> Backtester:
    return Backtester(database.engine, runner, Settings.load())


def test_episodes_open_after_two_breaches_and_resolve_after_two_clean_slots(
    database: Database, source_series: Series, source_runner: SourceRunner
) -> None:
    values = [10, 60, 10, 60, 60, 60, 10, 60, 10, 10, 60, 60]
    slots = [NOW + timedelta(hours=i) for i in range(len(values))]
    source_series.add(zip(slots, values, strict=True))
    with database.engine.begin() as connection:
        insert_kpi(connection, hourly_kpi(rule=ABOVE_50, policy=AlertPolicy(fire_after=2, resolve_after=2)))
    before = row_counts(database.engine)

    end = slots[-1] + timedelta(minutes=30)
    result = backtester(database, source_runner).run("Deposits", start=NOW, end=end)

    document = result.to_dict()
    assert (document["kpi"], document["slots"]) == ("Deposits", 12)
    assert (document["from"], document["to"]) == ("2026-11-28T12:00:00+00:00", "2026-11-28T23:30:00+00:00")
    assert [e["breach"] for e in document["evaluations"]] == [v > 50 for v in values]
    assert document["evaluations"][1] == {
        "slot": "2026-11-28T13:00:00+00:00",
        "key": "k",
        "current": 60.0,
        "expected": None,
        "lower": None,
        "upper": None,
        "breach": True,
    }
    assert document["episodes"] == [
        {"key": "k", "opened_at": slots[4].isoformat(), "resolved_at": slots[9].isoformat()},
        {"key": "k", "opened_at": slots[11].isoformat(), "resolved_at": None},
    ]
    assert row_counts(database.engine) == before  # nothing written


def test_a_warm_up_incident_is_judged_a_breach_and_left_out_of_later_seasonal_baselines(
    database: Database, source_series: Series, source_runner: SourceRunner
) -> None:
    # every hour of the five weeks before NOW: the same hour one to four weeks back holds 100, 102, 102, 100
    # (no trend); one week back at NOW's own hour an incident reads 1000
    hours = [NOW - timedelta(hours=h) for h in range(1, 5 * 168)]
    earlier = [(at, WEEKLY[round((NOW - at) / timedelta(weeks=1))]) for at in hours]
    incident = NOW - timedelta(weeks=1)
    source_series.add([(at, 1000 if at == incident else value) for at, value in earlier])
    source_series.add([(NOW, 100), (NOW + timedelta(hours=1), 100)])
    with database.engine.begin() as connection:
        insert_kpi(connection, hourly_kpi(rule=SEASONAL))
    told: list[tuple[str, int, int]] = []

    result = backtester(database, source_runner).run(
        "deposits", start=NOW, end=NOW + timedelta(hours=2), progress=lambda *p: told.append(p)
    )

    now, after = result.evaluations
    assert [s.slot for s in result.evaluations] == [NOW, NOW + timedelta(hours=1)]
    assert now.evaluation.expected == pytest.approx(102, rel=0.01)  # median of 102, 102, 100: no 1000
    assert not now.evaluation.breach
    assert now.evaluation.band is not None
    assert now.evaluation.band.weeks == tuple(NOW - timedelta(weeks=w) for w in (2, 3, 4))
    assert after.evaluation.expected == pytest.approx(
        101, rel=0.01
    )  # median of 100, 102, 102, 100 at the next hour
    assert result.episodes == []
    warm_up = 4 * 168 + 12 + 1  # four weeks, the twelve neighbouring hours, the daylight-saving margin
    assert told[-1] == ("Deposits", warm_up + 2, warm_up + 2)
    assert len(told) == 2  # one line per batch of 500 slots


def test_slots_inside_the_band_that_run_off_the_same_way_open_an_alert(
    database: Database, source_series: Series, source_runner: SourceRunner
) -> None:
    hours = [NOW - timedelta(hours=h) for h in range(1, 5 * 168)]
    source_series.add([(at, WEEKLY[round((NOW - at) / timedelta(weeks=1))]) for at in hours])
    values = [140, 140, 140, 140, 101, 101]  # each inside the band, about 3 noise sd above 101
    slots = [NOW + timedelta(hours=i) for i in range(len(values))]
    source_series.add(zip(slots, values, strict=True))
    with database.engine.begin() as connection:
        insert_kpi(connection, hourly_kpi(rule=SEASONAL))
    before = row_counts(database.engine)

    result = backtester(database, source_runner).run(
        "deposits", start=NOW, end=slots[-1] + timedelta(hours=1)
    )

    evaluations = [s.evaluation for s in result.evaluations]
    assert all(e.lower is not None and e.upper is not None for e in evaluations)
    assert all(
        e.lower is not None and e.upper is not None and e.lower < e.current < e.upper for e in evaluations
    )
    # One slot alone, or two, is not enough; the third makes the run: 3 x (3 - 1) > 4 + 1.
    assert [e.breach for e in evaluations] == [False, False, True, True, False, False]
    assert "ends 3 slots above the expected values" in evaluations[2].reasons[0]
    assert [(e.opened_at, e.resolved_at) for e in result.episodes] == [(slots[2], slots[4])]
    assert row_counts(database.engine) == before


def test_a_procedure_kpi_or_a_query_without_a_window_is_refused(
    database: Database, source_runner: SourceRunner
) -> None:
    with database.engine.begin() as connection:
        insert_kpi(connection, make_kpi(indicator="Proc", kind=KpiKind.PROCEDURE, sql_text="dbo.usp_Monitor"))
        insert_kpi(connection, make_kpi(indicator="Now"))
    with pytest.raises(KpiNotReplayable, match="KPI Proc cannot be replayed: it runs a stored procedure"):
        backtester(database, source_runner).run("Proc", start=NOW, end=NOW + timedelta(hours=1))
    with pytest.raises(KpiNotReplayable, match="uses neither :window_start nor :window_end"):
        backtester(database, source_runner).run("Now", start=NOW, end=NOW + timedelta(hours=1))


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (NOW, NOW, "must be before --to"),
        (NOW, NOW - timedelta(hours=1), "must be before --to"),
        (NOW, NOW + timedelta(days=367), "at most 366 are allowed"),
        (NOW.replace(tzinfo=None), NOW, "--from 2026-11-28T12:00:00 has no time zone"),
    ],
)
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_an_unusable_range_is_refused_before_anything_runs(
    database: Database, source_runner: SourceRunner, start: object, end: object, message: str
) -> None:
    with pytest.raises(InvalidRange, match=message):
        backtester(database, source_runner).run("Deposits", start=start, end=end)  # type: ignore[arg-type]
