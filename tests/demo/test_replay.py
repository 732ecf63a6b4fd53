"""`python -m demo replay`: the demo's KPIs run at each past hour as if it were the present, so history,
bands and past alerts exist on a fresh demo, and the anomaly is open at the end."""

from __future__ import annotations

from collections.abc import Iterator
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


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engine, SourceRunner, Settings]]:
    source_url = f"sqlite:///{tmp_path / 'source.db'}"
    source.build(source_url, now=NOW, seed=0, weeks=5)
    kpi_file = tmp_path / "kpis.yaml"
    kpi_file.write_text(kpis.render("sqlite"), encoding="utf-8")
    monkeypatch.setenv("ConnectionStrings__Sources__main", source_url)
    settings = Settings.load()
    engine = create_monitoring_engine(f"sqlite:///{tmp_path / 'monitoring.db'}")
    migrate.upgrade(engine)
    import_file(engine, kpi_file, settings, now=NOW - timedelta(days=1))
    runner = SourceRunner({"main": source_url}, pool_size=2, retry_wait_s=0)
    yield engine, runner, settings
    runner.dispose()
    engine.dispose()


def test_a_replay_stores_every_kpis_values_at_every_slot_and_ends_with_the_anomaly_open(
    demo: tuple[Engine, SourceRunner, Settings],
) -> None:
    engine, runner, settings = demo
    report = replay(engine, runner, settings, now=NOW, hours=6)
    assert (report.slots, report.executions, report.failed) == (7, 35, 0)
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
