"""A time series in a real source database for replay tests (backtest, backfill, dry run): one table of
timestamped values that a KPI's query sums per window, on SQLite (text instants) or PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select, text

from shared.db.tables import metadata
from shared.domain.kpi import Kpi, Schedule
from shared.sources import SourceRunner
from tests.conftest import Database
from tests.factories import make_kpi

SERIES_QUERY = (
    "SELECT k AS key, SUM(v) AS current_value FROM series "
    "WHERE at >= :window_start AND at < :window_end GROUP BY k"
)
HOURLY = Schedule(frequency_minutes=60)


class Series:
    """The `series` table of the source: (at, k, v) rows."""

    def __init__(self, engine: Engine, backend: str) -> None:
        self.engine = engine
        self._sqlite = backend == "sqlite"
        column = "TEXT" if self._sqlite else "TIMESTAMPTZ"
        with engine.begin() as connection:
            connection.execute(text(f"CREATE TABLE series (at {column} NOT NULL, k VARCHAR(20), v INTEGER)"))

    def add(self, points: Iterable[tuple[datetime, float]], key: str = "k") -> None:
        """One value per instant (a slot's value goes a minute before the slot, inside its window)."""
        rows = [{"at": self._at(at - timedelta(minutes=1)), "k": key, "v": value} for at, value in points]
        with self.engine.begin() as connection:
            connection.execute(text("INSERT INTO series VALUES (:at, :k, :v)"), rows)

    def _at(self, moment: datetime) -> object:
        return moment.strftime("%Y-%m-%d %H:%M:%S") if self._sqlite else moment


@pytest.fixture
def source_series(database: Database, source_url: str) -> Iterator[Series]:
    engine = create_engine(source_url)
    yield Series(engine, database.backend)
    engine.dispose()


@pytest.fixture
def source_runner(source_url: str) -> Iterator[SourceRunner]:
    runner = SourceRunner({"main": source_url}, pool_size=2, retry_wait_s=0)
    yield runner
    runner.dispose()


def hourly_kpi(**changes: Any) -> Kpi:
    """An hourly KPI summing the series over its last hour."""
    return make_kpi(**{"sql_text": SERIES_QUERY, "schedule": HOURLY, "last_minutes": 60, **changes})


def row_counts(engine: Engine) -> dict[str, int]:
    """The number of rows of every table of the monitoring database."""
    with engine.connect() as connection:
        return {
            name: int(connection.scalar(select(func.count()).select_from(table)) or 0)
            for name, table in metadata.tables.items()
        }
