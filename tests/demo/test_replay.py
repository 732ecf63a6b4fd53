"""`python -m demo replay`: the demo's KPIs run at each past hour as if it were the present, so history,
bands and past alerts exist on a fresh demo, and the anomaly is open at the end; after `mgrid kpi backfill`
of the seasonal KPI (as `make run` does) its backfilled hours are kept, and its last run has a band."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from demo import kpis, source
from demo.replay import replay, slots
from shared.db import migrate
from shared.db.engine import create_monitoring_engine
from shared.db.tables import alerts, historical_data
from shared.db.tables import kpis as kpi_table
from shared.services.backfill import Backfiller
from shared.services.definitions import import_file
from shared.settings import Settings
from shared.sources import SourceRunner

NOW = datetime(2026, 11, 27, 21, 7, tzinfo=UTC)  # a Friday evening, near the daily peak


def test_the_slots_are_the_past_whole_hours_then_now() -> None:
    assert slots(NOW, 3) == [
        datetime(2026, 11, 27, 18, tzinfo=UTC),
        datetime(2026, 11, 27, 19, tzinfo=UTC),
        datetime(2026, 11, 27, 20, tzinfo=UTC),
        NOW,
    ]


Demo = tuple[Engine, SourceRunner, Settings]


@contextmanager
def open_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, imported_at: datetime) -> Iterator[Demo]:
    source_url = f"sqlite:///{tmp_path / 'source.db'}"
    source.build(source_url, now=NOW, seed=0, weeks=5)
    kpi_file = tmp_path / "kpis.yaml"
    kpi_file.write_text(kpis.render("sqlite"), encoding="utf-8")
    monkeypatch.setenv("ConnectionStrings__Sources__main", source_url)
    settings = Settings.load()
    engine = create_monitoring_engine(f"sqlite:///{tmp_path / 'monitoring.db'}")
    migrate.upgrade(engine)
    import_file(engine, kpi_file, settings, now=imported_at)
    runner = SourceRunner({"main": source_url}, pool_size=2, retry_wait_s=0)
    yield engine, runner, settings
    runner.dispose()
    engine.dispose()


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Demo]:
    """The demo imported a day ago: every KPI's replayed slots are its own to run."""
    with open_demo(tmp_path, monkeypatch, imported_at=NOW - timedelta(days=1)) as opened:
        yield opened


@pytest.fixture
def backfilled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Demo]:
    """The demo as `make run` leaves it before the replay: imported now, the seasonal KPI backfilled."""
    with open_demo(tmp_path, monkeypatch, imported_at=NOW) as (engine, runner, settings):
        Backfiller(engine, runner, settings).run(kpis.SEASONAL, weeks=5, now=NOW)
        yield engine, runner, settings


def test_a_replay_stores_every_kpis_values_at_every_slot_and_ends_with_the_anomaly_open(
    demo: tuple[Engine, SourceRunner, Settings],
) -> None:
    engine, runner, settings = demo
    report = replay(engine, runner, settings, now=NOW, hours=6)
    assert (report.slots, report.executions, report.failed) == (7, 7 * len(kpis.INDICATORS), 0)
    assert report.skipped == 0
    with engine.connect() as connection:
        stored = set(
            connection.execute(
                select(kpi_table.c.indicator, historical_data.c.window_end).join(
                    kpi_table, kpi_table.c.id == historical_data.c.kpi_id
                )
            )
        )
        still_open = set(
            connection.execute(
                select(kpi_table.c.indicator, alerts.c.metric_key)
                .join(kpi_table, kpi_table.c.id == alerts.c.kpi_id)
                .where(alerts.c.status == "open")
            )
        )
    assert {indicator for indicator, _ in stored} == set(kpis.INDICATORS)
    assert len({slot for _, slot in stored}) == 7
    assert {("Deposits", "TotalDeposits"), ("Settlement Companies", "PayFlow")} <= still_open


def test_a_replay_after_the_backfill_keeps_the_backfilled_hours_and_ends_with_a_band_and_a_breach(
    backfilled: Demo,
) -> None:
    engine, runner, settings = backfilled
    report = replay(engine, runner, settings, now=NOW, hours=6)
    assert (report.executions, report.failed, report.skipped) == (7 * len(kpis.INDICATORS) - 6, 0, 6)
    with engine.connect() as connection:
        seasonal = connection.execute(
            select(historical_data.c.window_end, historical_data.c.metric_key, historical_data.c.expected)
            .join(kpi_table, kpi_table.c.id == historical_data.c.kpi_id)
            .where(kpi_table.c.indicator == kpis.SEASONAL, historical_data.c.window_end >= slots(NOW, 6)[0])
        ).all()
        still_open = set(
            connection.scalars(
                select(alerts.c.metric_key)
                .join(kpi_table, kpi_table.c.id == alerts.c.kpi_id)
                .where(kpi_table.c.indicator == kpis.SEASONAL, alerts.c.status == "open")
            )
        )
    assert {slot for slot, _, _ in seasonal} == set(slots(NOW, 6))  # six backfilled hours and now
    assert all(expected is not None for _, _, expected in seasonal)
    assert still_open == {"Germany"}
