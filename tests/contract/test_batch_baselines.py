"""A batch reads its KPIs' baselines in one query per group; what it reads is what each KPI reads alone."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from shared.db import history
from shared.domain.kpi import Baseline, BaselineMode, Kpi
from shared.domain.schedule import window
from shared.services.baselines import read_baseline, read_baselines
from tests.conftest import Database
from tests.factories import NOW, insert_kpi, make_kpi, queue_execution

SLOT = NOW.replace(minute=0, second=0, microsecond=0)


def kpi_with(mode: BaselineMode, indicator: str) -> Kpi:
    kpi = make_kpi(indicator=indicator)
    return replace(kpi, rule=replace(kpi.rule, baseline=Baseline(mode=mode)))


@pytest.mark.parametrize("mode", [BaselineMode.HISTORY, BaselineMode.SEASONAL])
def test_a_batch_reads_the_same_baselines_as_each_kpi_alone(database: Database, mode: BaselineMode) -> None:
    with database.engine.begin() as connection:
        stored = []
        for n in range(2):
            kpi = kpi_with(mode, f"k{n}")
            kpi = replace(kpi, id=insert_kpi(connection, kpi))
            stored.append(kpi)
            for hours in range(4, 24 * 7 * 5 + 1, 4):  # five weeks back, every 4 hours: the slot in each week
                slot = SLOT - timedelta(hours=hours)
                history.record(
                    connection,
                    kpi_id=kpi.id,
                    execution_id=queue_execution(connection, kpi.id, slot),
                    window=window(slot, kpi.last_minutes),
                    rows=[
                        history.HistoryRow(
                            metric_key="k",
                            value=float(hours + n),
                            baseline_value=None,
                            deviation_percent=None,
                            breach=hours % 5 == 0,
                        )
                    ],
                    now=slot,
                )
    with database.engine.connect() as connection:
        alone = [read_baseline(connection, kpi, SLOT) for kpi in stored]
        together = read_baselines(connection, [(kpi, SLOT) for kpi in stored])
    assert together == alone
    assert any(data.history or data.seasonal for data in alone)  # there was something to read
