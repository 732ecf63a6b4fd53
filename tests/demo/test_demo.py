"""The demo: its source builds on SQLite and PostgreSQL, deterministically; its KPI file validates; and on a
fresh monitoring database, with the seasonal KPI's earlier weeks backfilled as `make run` does, the anomalous
KPIs breach and open alerts on their first run, and the seasonal KPI's values have a band."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url

from demo import kpis, source
from shared.db import migrate
from shared.db.engine import create_monitoring_engine
from shared.db.tables import alerts, historical_data
from shared.definitions import load_text, parse_definitions
from shared.domain.kpi import BaselineMode
from shared.services.backfill import Backfiller
from shared.services.definitions import import_file
from shared.services.execution import Executor
from shared.services.execution_report import ExecutionReport
from shared.services.manual_run import run_now
from shared.settings import Settings
from shared.sources import SourceRunner
from tests.conftest import POSTGRES_ADMIN_URL

NOW = datetime(2026, 11, 27, 21, 0, tzinfo=UTC)  # a Friday evening, near the daily peak
ROOT = Path(__file__).resolve().parents[2]
BREACHING = {
    "Deposits": {"TotalDeposits"},
    "Settlement Companies": {"PayFlow"},
    "Country Deposits": {"Germany"},
    kpis.SEASONAL: {"Germany"},
}
CLEAN = ("Transaction Volume", "White Label Performance")


def table_counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {
                table.name: int(connection.scalar(select(func.count()).select_from(table)) or 0)
                for table in source.metadata.sorted_tables
            }
    finally:
        engine.dispose()


def assert_plausible(rows: dict[str, int]) -> None:
    assert (rows["countries"], rows["white_labels"], rows["settlement_companies"]) == (6, 3, 4)
    assert 70_000 < rows["deposits"] < 120_000
    assert 200_000 < rows["transactions"] < 320_000
    assert rows["deposits"] + rows["transactions"] < 400_000


def test_the_sqlite_demo_builds_with_plausible_row_counts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'source.db'}"
    report = source.build(url, now=NOW, seed=7)
    assert report.rows == table_counts(url)
    assert_plausible(report.rows)
    assert report.elapsed_s > 0  # how long it took is reported (python -m demo), never asserted


def query_results(url: str, dialect: kpis.Dialect, window: dict[str, object]) -> dict[str, dict[str, Any]]:
    """Each demo KPI's rows, `{key: (current, historical)}` (historical None where the query has none), for
    the window."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {
                kpi["indicator"]: {
                    row[0]: (row[1], row[2] if len(row) > 2 else None)
                    for row in connection.execute(text(kpi["query"]), window)
                }
                for kpi in kpis.document(dialect)["kpis"]
            }
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_the_postgresql_demo_builds_with_the_same_rows_and_its_queries_see_the_anomaly(
    postgres_admin: Engine,
) -> None:
    name = f"mgrid_demo_{uuid.uuid4().hex[:12]}"
    with postgres_admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    try:
        url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        report = source.build(url, now=NOW, seed=7)
        assert report.rows == table_counts(url)
        assert_plausible(report.rows)
        window = {"window_start": NOW - timedelta(minutes=60), "window_end": NOW, "for_last_minutes": 60}
        results = query_results(url, "postgresql", window)
        assert set(results) == set(kpis.INDICATORS)
        germany_now, germany_before = results["Country Deposits"]["Germany"]
        assert germany_now < 0.5 * float(germany_before)
        payflow_now, payflow_before = results["Settlement Companies"]["PayFlow"]
        assert payflow_now < 80 < payflow_before
        hourly = {country: current for country, (current, _) in results[kpis.SEASONAL].items()}
        assert hourly["Germany"] == germany_now  # the same attempts, counted in the window only
    finally:
        with postgres_admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def test_the_same_seed_and_now_generate_the_same_rows() -> None:
    def generate(seed: int) -> source.Dataset:
        return source.generate(now=NOW, seed=seed, weeks=1, anomaly=source.Anomaly())

    assert generate(3) == generate(3)
    assert generate(3).tables["deposits"] != generate(4).tables["deposits"]


def test_traffic_peaks_in_the_evening_and_on_weekends() -> None:
    rows = source.generate(now=NOW, seed=1, weeks=5, anomaly=source.Anomaly()).tables["deposits"]
    by_hour = [0] * 24
    by_day = [0] * 7
    for row in rows:
        by_hour[row["created_at"].hour] += 1
        by_day[row["created_at"].weekday()] += 1
    assert by_hour[20] > 4 * by_hour[3]
    assert min(by_day[5:]) > max(by_day[:4])


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        source.generate(now=NOW.replace(tzinfo=None), seed=1, weeks=1, anomaly=source.Anomaly())


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_the_kpi_file_validates_with_the_original_seed_values(dialect: kpis.Dialect) -> None:
    document = load_text(kpis.render(dialect), fmt="yaml")
    definitions = parse_definitions(document, sources={"main"}, existing_contacts=())
    seeded = {kpi.indicator: kpi for kpi, _ in definitions.kpis}
    assert [c.name for c in definitions.contacts] == ["Amnon", "Itai", "Mike", "Gavriel", "Tech Team"]
    assert seeded["Settlement Companies"].owner == "Mike"
    assert seeded["Settlement Companies"].rule.deviation_percent == 20
    assert seeded["Country Deposits"].policy.cooldown_minutes == 120
    assert seeded["White Label Performance"].rule.minimum_threshold == 20
    links = {kpi.indicator: [(link.name, link.level) for link in found] for kpi, found in definitions.kpis}
    assert links["Deposits"] == [("Amnon", 0), ("Tech Team", 1)]
    assert links["Transaction Volume"] == [("Tech Team", 0)]
    seasonal = seeded[kpis.SEASONAL]
    assert seasonal.rule.baseline.mode is BaselineMode.SEASONAL
    assert seasonal.rule.minimum_threshold is None  # the band follows the quiet nights
    assert (seasonal.schedule.frequency_minutes, seasonal.last_minutes) == (60, 60)
    assert links[kpis.SEASONAL] == [("Gavriel", 0), ("Tech Team", 1)]


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engine, Executor]]:
    """A fresh monitoring database with the demo KPIs imported and the seasonal KPI's 5 weeks backfilled (as
    `make run` does), and an executor on the demo source."""
    source_url = f"sqlite:///{tmp_path / 'source.db'}"
    source.build(source_url, now=NOW, seed=0)
    kpi_file = tmp_path / "kpis.yaml"
    kpi_file.write_text(kpis.render("sqlite"), encoding="utf-8")
    monkeypatch.setenv("ConnectionStrings__Sources__main", source_url)
    settings = Settings.load()
    engine = create_monitoring_engine(f"sqlite:///{tmp_path / 'monitoring.db'}")
    migrate.upgrade(engine)
    import_file(engine, kpi_file, settings, now=NOW)
    runner = SourceRunner({"main": source_url}, pool_size=2, retry_wait_s=0)
    filled = Backfiller(engine, runner, settings).run(kpis.SEASONAL, weeks=5, now=NOW)
    assert filled.stored == filled.slots == 5 * 7 * 24  # every hour of the data before NOW, NOW not yet
    yield engine, Executor(engine, runner, settings, clock=lambda: NOW + timedelta(seconds=5))
    runner.dispose()
    engine.dispose()


def run(engine: Engine, executor: Executor, indicator: str) -> ExecutionReport:
    return run_now(engine, executor, indicator, now=NOW, owner="test")


def test_the_anomalous_kpis_breach_and_open_alerts_on_the_first_run(demo: tuple[Engine, Executor]) -> None:
    engine, executor = demo
    reports = {indicator: run(engine, executor, indicator) for indicator in kpis.INDICATORS}
    assert all(report.status == "succeeded" for report in reports.values())
    for indicator, keys in BREACHING.items():
        breached = {e.key for e in reports[indicator].evaluations if e.breach}
        assert breached == keys, indicator
    for indicator in CLEAN:
        assert reports[indicator].evaluations
        assert not any(e.breach for e in reports[indicator].evaluations), indicator
    with engine.connect() as connection:
        opened = connection.scalar(select(func.count()).select_from(alerts))
    assert opened == sum(len(keys) for keys in BREACHING.values())


def test_the_seasonal_kpis_first_run_after_the_backfill_has_a_band_and_stores_it(
    demo: tuple[Engine, Executor],
) -> None:
    engine, executor = demo
    report = run(engine, executor, kpis.SEASONAL)
    assert report.status == "succeeded"
    assert {e.key for e in report.evaluations} == {name for _, name, _, _ in source.COUNTRIES}
    for evaluation in report.evaluations:
        lower, expected, upper = evaluation.lower, evaluation.expected, evaluation.upper
        assert lower is not None
        assert expected is not None
        assert upper is not None
        assert lower <= expected <= upper, evaluation
    with engine.connect() as connection:
        stored = connection.execute(
            select(historical_data.c.expected, historical_data.c.lower, historical_data.c.upper).where(
                historical_data.c.execution_id == report.execution_id
            )
        ).all()
    assert len(stored) == len(source.COUNTRIES)
    assert all(None not in band for band in stored), stored


def test_python_m_demo_build_writes_the_source_and_the_kpi_file(tmp_path: Path) -> None:
    environment = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "demo", "build", "--now", "2026-11-27T21:00:00Z", "--weeks", "1"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "deposits" in result.stdout
    assert (tmp_path / ".data" / "demo-source.db").is_file()
    assert (tmp_path / ".data" / "demo-kpis.yaml").read_text(encoding="utf-8") == kpis.render("sqlite")
