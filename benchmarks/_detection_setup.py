"""The detection benchmark's rules, source table and KPI definitions file.

The source database has one table, `counts (kpi, at, n)`: one row per KPI and hour (`at` is the hour's
start, `n` the events counted in it), primary key `(kpi, at)`. Every KPI's query is an ordinary SQL
aggregate over its window, through the same source path as production (`SOURCE` names the connection).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from benchmarks._series import Dataset

SOURCE = "bench"
QUERY = (
    "SELECT 'k' AS key, COALESCE(SUM(n), 0) AS current_value FROM counts"
    " WHERE kpi = '{kpi}' AND at >= :window_start AND at < :window_end"
)
DEVIATION_PERCENT = 20.0  #: every rule's deviation_percent (the seasonal band's narrowest half-width)


@dataclass(frozen=True, kw_only=True, slots=True)
class RuleSpec:
    """One way of judging every KPI: its `baseline` entry in the definitions file."""

    name: str  #: a short id, part of each KPI's indicator
    title: str
    baseline: dict[str, Any]

    def indicator(self, kpi: str) -> str:
        return f"{kpi}-{self.name}"


def rules(tolerances: Sequence[float]) -> tuple[RuleSpec, ...]:
    """The original rule, the history median and the seasonal rule with its defaults; then the seasonal
    rule with each explicit `tolerance`."""
    fixed = (
        RuleSpec(
            name="original",
            title="original (history, 4 weeks, mean)",
            baseline={"mode": "history", "weeks_back": 4, "aggregate": "mean"},
        ),
        RuleSpec(
            name="median",
            title="history, 4 weeks, median",
            baseline={"mode": "history", "weeks_back": 4, "aggregate": "median"},
        ),
        RuleSpec(name="seasonal", title="seasonal (defaults)", baseline={"mode": "seasonal"}),
    )
    return fixed + tuple(
        RuleSpec(
            name=f"seasonal-t{value:g}",
            title=f"seasonal, tolerance {value:g}",
            baseline={"mode": "seasonal", "tolerance": value},
        )
        for value in tolerances
    )


def load_source(engine: Engine, dataset: Dataset) -> int:
    """Create `counts` and COPY every series into it; the number of rows."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE counts (kpi text NOT NULL, at timestamptz NOT NULL, n integer NOT NULL,"
                " PRIMARY KEY (kpi, at))"
            )
        )
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        rows = 0
        with cursor.copy("COPY counts (kpi, at, n) FROM STDIN") as copy:
            for series in dataset.series:
                for at, value in series.points():
                    copy.write_row((series.profile.name, at, value))
                    rows += 1
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE counts"))
    return rows


def definitions(dataset: Dataset, specs: Sequence[RuleSpec]) -> dict[str, Any]:
    """The definitions file: every KPI once per rule, hourly, judging the last hour."""
    return {
        "contacts": [],
        "kpis": [_kpi(series.profile.name, spec) for spec in specs for series in dataset.series],
    }


def _kpi(kpi: str, spec: RuleSpec) -> dict[str, Any]:
    return {
        "indicator": spec.indicator(kpi),
        "owner": "Detection benchmark",
        "priority": 2,
        "source": SOURCE,
        "query": QUERY.format(kpi=kpi),
        "frequency_minutes": 60,
        "last_minutes": 60,
        "deviation_percent": DEVIATION_PERCENT,
        "direction": "both",
        "baseline": spec.baseline,
        "cooldown_minutes": 60,
        "fire_after": 1,
        "resolve_after": 1,
        "subject_template": "{Indicator}: {CurrentValue} vs {Expected}",
        "description_template": "{Indicator} {MetricKey}: {CurrentValue} outside [{Lower}, {Upper}]",
        "is_active": True,
    }


def write_definitions(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document, indent=1), encoding="utf-8")
    return path
