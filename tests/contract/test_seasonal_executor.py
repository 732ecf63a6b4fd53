"""The executor's seasonal baseline on SQLite and PostgreSQL: the band is read from our own history (earlier
breaches left out), stored with every value and on the alert, and told in the notice's event."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from shared.db.tables import alert_events, alerts, historical_data, kpi_executions
from shared.domain.kpi import Baseline, BaselineMode, Rule, Schedule
from tests.contract.test_executor import Pipeline
from tests.factories import NOW, insert_kpi, make_kpi

SEASONAL = Rule(deviation_percent=0, baseline=Baseline(mode=BaselineMode.SEASONAL, weeks_back=4, tolerance=4))


def remember(pipeline: Pipeline, connection: Any, kpi_id: int, weeks: int, value: float, **row: Any) -> None:
    """A stored history value for the slot `weeks` weeks before NOW, as an earlier execution wrote it."""
    past = pipeline.queue_slot(connection, kpi_id, NOW - timedelta(weeks=weeks))
    connection.execute(kpi_executions.update().where(kpi_executions.c.id == past).values(status="succeeded"))
    connection.execute(
        historical_data.insert().values(
            kpi_id=kpi_id,
            execution_id=past,
            metric_key="k",
            window_start=NOW - timedelta(weeks=weeks, hours=1),
            window_end=NOW - timedelta(weeks=weeks),
            value=value,
            recorded_at=NOW,
            **row,
        )
    )


def seasonal_run(pipeline: Pipeline, current: int, history: list[tuple[int, float, bool]]) -> uuid.UUID:
    kpi = make_kpi(
        sql_text=f"SELECT 'k' AS key, {current} AS current_value",
        schedule=Schedule(frequency_minutes=60),
        rule=SEASONAL,
    )
    with pipeline.database.engine.begin() as connection:
        kpi_id = insert_kpi(connection, kpi, next_run_at=None)
        for weeks, value, breach in history:
            remember(pipeline, connection, kpi_id, weeks, value, breach=breach)
        return pipeline.queue_slot(connection, kpi_id, NOW)


def test_the_band_leaves_out_earlier_breaches_and_is_stored_with_the_value(pipeline: Pipeline) -> None:
    history = [(1, 100.0, False), (2, 5000.0, True), (3, 104.0, False), (4, 96.0, False)]
    execution_id = seasonal_run(pipeline, 100, history)
    (evaluation,) = pipeline.run(execution_id).evaluations
    assert evaluation.expected == 100  # the breach of week 2 is left out: median of 100, 104, 96
    assert not evaluation.breach
    stored = pipeline.rows(
        historical_data,
        historical_data.c.value,
        historical_data.c.expected,
        historical_data.c.lower,
        historical_data.c.upper,
    )
    current = [row for row in stored if row[0] == 100 and row[1] is not None]
    assert len(current) == 1
    _value, expected, lower, upper = current[0]
    assert (expected, lower < 100 < upper) == (100, True)


def test_a_breach_of_the_band_opens_an_alert_that_carries_the_band(pipeline: Pipeline) -> None:
    execution_id = seasonal_run(pipeline, 10, [(1, 100.0, False), (2, 104.0, False), (3, 96.0, False)])
    report = pipeline.run(execution_id)
    (evaluation,) = report.evaluations
    assert evaluation.breach
    assert "below the expected band" in evaluation.reasons[0]
    with pipeline.database.engine.connect() as connection:
        alert = connection.execute(select(alerts)).mappings().one()
        stored = connection.execute(select(alert_events.c.details)).scalar_one()
    details = json.loads(stored) if isinstance(stored, str) else stored
    assert (alert["expected_value"], alert["lower_value"], alert["upper_value"]) == (
        evaluation.expected,
        evaluation.lower,
        evaluation.upper,
    )
    assert details["expected"] == 100
    assert details["baseline_weeks"] == [f"{NOW - timedelta(weeks=w):%Y-%m-%d}" for w in (1, 2, 3)]


def test_with_fewer_than_three_earlier_values_nothing_breaches_by_the_band(pipeline: Pipeline) -> None:
    execution_id = seasonal_run(pipeline, 10, [(1, 100.0, False), (2, 104.0, False)])
    (evaluation,) = pipeline.run(execution_id).evaluations
    assert (evaluation.breach, evaluation.expected) == (False, None)
