"""A group's history rows written together (`history.record_many`: one array INSERT on PostgreSQL) are the
rows each execution writes alone (`history.record`), NULLs and every column included."""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import select

from shared.db import history
from shared.db.tables import historical_data
from shared.domain.schedule import window
from tests.conftest import Database
from tests.factories import NOW, insert_kpi, make_kpi, queue_execution

SLOT = NOW.replace(minute=0, second=0, microsecond=0)
ROWS = [
    history.HistoryRow(metric_key="a", value=1.5, baseline_value=None, deviation_percent=None, breach=False),
    history.HistoryRow(
        metric_key="b",
        value=-2.25,
        baseline_value=3.0,
        deviation_percent=-175.0,
        breach=True,
        expected=3.0,
        lower=2.0,
        upper=4.0,
    ),
]


def stored(database: Database, kpi_ids: list[int]) -> list[tuple[object, ...]]:
    columns = [c for c in historical_data.c if c.name not in ("id", "kpi_id", "execution_id")]
    with database.engine.connect() as connection:
        rows = connection.execute(
            select(historical_data.c.kpi_id, *columns)
            .where(historical_data.c.kpi_id.in_(kpi_ids))
            .order_by(historical_data.c.kpi_id, historical_data.c.metric_key)
        )
        return [tuple(row) for row in rows]


def test_rows_written_together_are_those_written_one_by_one(database: Database) -> None:
    with database.engine.begin() as connection:
        alone = [insert_kpi(connection, make_kpi(indicator=f"alone{n}")) for n in range(3)]
        together = [insert_kpi(connection, make_kpi(indicator=f"together{n}")) for n in range(3)]
        recordings = []
        for n, (one, other) in enumerate(zip(alone, together, strict=True)):
            slot = SLOT - timedelta(minutes=5 * n)
            rows = ROWS[: n + 1] if n < 2 else []  # one row, two rows, none
            history.record(
                connection,
                kpi_id=one,
                execution_id=queue_execution(connection, one, slot),
                window=window(slot, 60),
                rows=rows,
                now=NOW,
            )
            recordings.append(
                history.Recording(
                    kpi_id=other,
                    execution_id=queue_execution(connection, other, slot),
                    window=window(slot, 60),
                    rows=rows,
                )
            )
        history.record_many(connection, recordings, now=NOW)
    by_one = stored(database, alone)
    by_group = stored(database, together)
    assert len(by_group) == 3
    renamed = {kpi: alone[n] for n, kpi in enumerate(together)}
    assert [(renamed[row[0]], *row[1:]) for row in by_group] == by_one
    assert not any(isinstance(v, float) and math.isnan(v) for row in by_group for v in row)
