"""A KPI's state on the API, from its summary: the first that applies of inactive, never_run, failing,
alerting, no_data, ok."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.api.kpis import state_of
from shared.api.models import KpiState
from shared.db.views import KpiSummary, MetricPoint
from tests.factories import NOW

POINT = MetricPoint(slot=NOW, key="k", current=1.0, expected=1.0, lower=0.0, upper=2.0, breach=False)
OK = KpiSummary(
    id=1,
    indicator="Deposits",
    owner="Payments",
    priority=1,
    is_active=True,
    next_run_at=NOW,
    last_run_at=NOW,
    last_status="succeeded",
    consecutive_failures=0,
    last_metric_count=1,
    open_alerts=0,
    metrics=(POINT,),
)


@pytest.mark.parametrize(
    ("changes", "state"),
    [
        ({}, KpiState.OK),
        ({"is_active": False, "open_alerts": 2, "last_status": "failed"}, KpiState.INACTIVE),
        ({"last_status": None, "metrics": ()}, KpiState.NEVER_RUN),
        ({"last_status": "failed", "open_alerts": 1}, KpiState.FAILING),
        ({"last_status": "timed_out"}, KpiState.FAILING),
        ({"consecutive_failures": 2, "last_status": "running"}, KpiState.FAILING),
        ({"open_alerts": 1, "last_metric_count": 0}, KpiState.ALERTING),
        ({"last_metric_count": 0}, KpiState.NO_DATA),
        ({"metrics": ()}, KpiState.NO_DATA),
        ({"last_status": "running", "last_metric_count": None}, KpiState.OK),
    ],
)
def test_the_first_state_that_applies_wins(changes: dict[str, object], state: KpiState) -> None:
    assert state_of(replace(OK, **changes)) is state  # type: ignore[arg-type]
