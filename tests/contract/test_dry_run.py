"""`mgrid kpi run --dry-run` on SQLite and PostgreSQL, against a real source: the outcome and the alert
transitions a run would make, for inactive KPIs too, with the row counts of every monitoring table
unchanged; and a plain manual run of an inactive KPI refused up front."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.domain.execution import ExecutionStatus
from shared.domain.kpi import AlertPolicy, Baseline, BaselineMode, Rule, Threshold, ThresholdOperator
from shared.errors import KpiInactive
from shared.services.manual_run import dry_run, run_now
from shared.settings import Settings
from tests.contract.replay_source import row_counts
from tests.contract.test_executor import Pipeline, set_readings
from tests.factories import NOW, insert_kpi, make_kpi

ABOVE_50 = Rule(
    deviation_percent=20,
    threshold=Threshold(operator=ThresholdOperator.GT, value=50),
    baseline=Baseline(mode=BaselineMode.SOURCE),
)
READINGS = "SELECT k AS key, v AS current_value FROM readings"


def dry(pipeline: Pipeline, reference: str = "Deposits") -> dict[str, object]:
    result = dry_run(
        pipeline.database.engine, pipeline.runner, Settings.load(), reference, now=NOW + timedelta(minutes=10)
    )
    return result.to_dict()


def test_a_dry_run_of_an_inactive_kpi_tells_what_it_would_open_and_writes_nothing(pipeline: Pipeline) -> None:
    set_readings(pipeline, k=80)
    with pipeline.database.engine.begin() as connection:
        insert_kpi(connection, make_kpi(sql_text=READINGS, rule=ABOVE_50, is_active=False))
    before = row_counts(pipeline.database.engine)

    outcome = dry(pipeline)

    assert outcome["dry_run"] is True
    assert (outcome["execution_id"], outcome["kpi"], outcome["status"], outcome["error"]) == (
        None,
        "Deposits",
        "succeeded",
        None,
    )
    assert outcome["metrics"] == [
        {
            "key": "k",
            "current": 80.0,
            "baseline": None,
            "deviation_percent": None,
            "expected": None,
            "lower": None,
            "upper": None,
            "breach": True,
            "no_data": False,
        }
    ]
    assert outcome["alerts"] == [{"id": None, "transition": "opened"}]
    assert row_counts(pipeline.database.engine) == before


def test_a_dry_run_tells_which_open_alert_it_would_resolve_and_writes_nothing(pipeline: Pipeline) -> None:
    set_readings(pipeline, k=80)
    _kpi_id, execution_id = pipeline.queue(make_kpi(sql_text=READINGS, rule=ABOVE_50))
    (opened,) = pipeline.run(execution_id).transitions  # a real run opens the alert
    set_readings(pipeline, k=10)
    before = row_counts(pipeline.database.engine)

    outcome = dry(pipeline, "1")

    assert [m["breach"] for m in outcome["metrics"]] == [False]  # type: ignore[attr-defined]
    assert outcome["alerts"] == [{"id": opened.alert_id, "transition": "resolved"}]
    assert row_counts(pipeline.database.engine) == before


def test_a_failing_dry_run_reports_the_failure_and_the_alert_it_would_raise(pipeline: Pipeline) -> None:
    with pipeline.database.engine.begin() as connection:
        insert_kpi(
            connection,
            make_kpi(sql_text="SELECT nope FROM nowhere", policy=AlertPolicy(failure_alert_after=1)),
        )
    before = row_counts(pipeline.database.engine)

    outcome = dry(pipeline)

    assert (outcome["status"], outcome["metrics"]) == (ExecutionStatus.FAILED.value, [])
    assert "SourceQueryError" in str(outcome["error"])
    assert outcome["alerts"] == [{"id": None, "transition": "opened"}]
    assert row_counts(pipeline.database.engine) == before


def test_a_plain_run_of_an_inactive_kpi_is_refused_with_a_clear_message(pipeline: Pipeline) -> None:
    with pipeline.database.engine.begin() as connection:
        insert_kpi(connection, make_kpi(is_active=False))
    before = row_counts(pipeline.database.engine)
    with pytest.raises(KpiInactive, match="KPI Deposits is inactive: activate it, or use --dry-run"):
        run_now(pipeline.database.engine, pipeline.executor, "deposits", now=NOW, owner="cli")
    assert row_counts(pipeline.database.engine) == before
