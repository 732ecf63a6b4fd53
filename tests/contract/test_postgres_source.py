"""A PostgreSQL source's query KPI in one round trip (a psycopg pipeline), with the guarantees of a run kept
per run: read-only, its own timeout, UTC, whatever an earlier query did to the pooled session; a broken
connection is not handed out again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from benchmarks._counting import TurnProxy
from shared.domain.kpi import Kpi
from shared.domain.observation import Observation
from shared.sources import SourceQueryError, SourceRunner, SourceTimeout
from shared.sources.engines import application_name
from shared.sources.postgres import compiled_query
from tests.conftest import Database
from tests.factories import make_kpi

on_postgresql = pytest.mark.parametrize("empty_database", ["postgresql"], indirect=True)
START = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
END = START + timedelta(hours=1)
IN_WINDOW = (
    "SELECT 'events' AS key, COUNT(*) AS current_value FROM events "
    "WHERE at >= :window_start AND at < :window_end AND note NOT LIKE '%skip%'"
)
HANGING = "SELECT 'k' AS key, 1 AS current_value FROM pg_sleep(30)"


def kpi(sql: str) -> Kpi:
    return make_kpi(id=1, sql_text=sql, source="main", last_minutes=60)


def run(runner: SourceRunner, sql: str, *, timeout_s: float = 10) -> list[Observation]:
    return runner.run(kpi(sql), window_start=START, window_end=END, timeout_s=timeout_s)


@pytest.fixture
def url(empty_database: Database) -> str:
    with empty_database.engine.begin() as connection:
        connection.execute(text("CREATE TABLE events (at TIMESTAMP NOT NULL, note TEXT NOT NULL)"))
        connection.execute(
            text("INSERT INTO events VALUES ('2024-05-01 10:10', 'a'), ('2024-05-01 10:20', 'skip me')")
        )
    return empty_database.url


@pytest.fixture
def runner(url: str) -> Iterator[SourceRunner]:
    runner = SourceRunner({"main": url}, pool_size=1, retry_wait_s=0)
    yield runner
    runner.dispose()


@pytest.mark.postgres
@on_postgresql
def test_a_query_kpi_takes_one_round_trip(url: str) -> None:
    proxy = TurnProxy(make_url(url).host or "127.0.0.1", make_url(url).port or 5432)
    turns: list[str] = []
    proxy.on_turn = turns.append
    runner = SourceRunner({"main": proxy.url(url)}, pool_size=1, retry_wait_s=0)
    try:
        assert run(runner, IN_WINDOW) == [Observation(key="events", current=1)]  # connects, prepares
        turns.clear()
        for _ in range(5):
            assert run(runner, IN_WINDOW) == [Observation(key="events", current=1)]
        time.sleep(0.2)  # the proxy reports a turn when the server's answer passes through
    finally:
        runner.dispose()
        proxy.close()
    assert turns == ["statement"] * 5  # the settings and the query: sent together, one Sync


@pytest.mark.postgres
@on_postgresql
def test_a_query_that_changes_the_session_cannot_lift_the_next_runs_timeout_or_read_only(
    runner: SourceRunner, url: str
) -> None:
    run(runner, "SELECT set_config('statement_timeout', '0', false) AS key, 1 AS current_value")
    run(runner, "SELECT set_config('default_transaction_read_only', 'off', false) AS key, 1 AS current_value")
    began = time.monotonic()
    with pytest.raises(SourceTimeout):
        run(runner, HANGING, timeout_s=0.5)
    assert time.monotonic() - began < 15
    with pytest.raises(SourceQueryError, match="read-only"):
        run(runner, "WITH gone AS (DELETE FROM events RETURNING 1) SELECT 'k' AS key, COUNT(*) FROM gone")
    assert run(runner, IN_WINDOW) == [Observation(key="events", current=1)]


@pytest.mark.postgres
@on_postgresql
def test_a_failed_query_leaves_the_pooled_connection_usable(runner: SourceRunner) -> None:
    with pytest.raises(SourceQueryError, match="does not exist"):
        run(runner, "SELECT nope FROM nowhere")
    with pytest.raises(SourceQueryError, match="multiple commands"):
        run(runner, "SELECT 1; SELECT 2")
    with pytest.raises(SourceQueryError, match="no result set"):
        run(runner, "BEGIN")  # a transaction block left open is rolled back before the pool has it again
    with pytest.raises(SourceQueryError, match="read-only"):
        run(runner, "WITH gone AS (DELETE FROM events RETURNING 1) SELECT 'k' AS key, COUNT(*) FROM gone")
    assert run(runner, IN_WINDOW) == [Observation(key="events", current=1)]


@pytest.mark.postgres
@on_postgresql
def test_a_killed_connection_is_replaced_and_the_run_retried(
    runner: SourceRunner, url: str, postgres_admin: Engine
) -> None:
    assert run(runner, IN_WINDOW) == [Observation(key="events", current=1)]
    with postgres_admin.connect() as connection:
        killed = connection.execute(
            text(
                "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :db AND application_name = :app"
            ),
            {"db": make_url(url).database, "app": application_name("main")},
        ).scalar_one()
    assert killed == 1
    assert run(runner, IN_WINDOW) == [Observation(key="events", current=1)]
    assert run(runner, IN_WINDOW) == [Observation(key="events", current=1)]


def test_a_kpis_sql_is_compiled_for_psycopg_once() -> None:
    compiled = compiled_query(IN_WINDOW)
    assert "%(window_start)s" in compiled
    assert "%(window_end)s" in compiled
    assert "LIKE '%%skip%%'" in compiled  # a literal % survives psycopg's parameter parsing
    assert compiled_query(IN_WINDOW) is compiled
