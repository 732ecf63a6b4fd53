"""KPI sources on real SQLite and PostgreSQL: windows, timeouts, read-only runs, errors, procedures, pool.

Each test gets a fresh source database (a file, or a scratch PostgreSQL database dropped afterwards) with a
small table of timestamped events. The PostgreSQL database runs in a non-UTC time zone on purpose: the
runner must compare windows in UTC regardless.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, event, inspect, text
from sqlalchemy.engine import make_url

from shared.domain.kpi import Kpi, KpiKind
from shared.domain.observation import Observation
from shared.sources import (
    SourceNotConfigured,
    SourceQueryError,
    SourceRunner,
    SourceTimeout,
    SourceUnavailable,
)
from shared.sources.engines import application_name
from tests.conftest import Database
from tests.factories import make_kpi

START = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
END = START + timedelta(hours=1)
EVENTS = [
    ("2024-05-01 09:59:59", 1),  # before the window
    ("2024-05-01 10:00:00", 10),  # at the start: inside
    ("2024-05-01 10:30:00", 100),
    ("2024-05-01 10:59:59", 1000),
    ("2024-05-01 11:00:00", 10000),  # at the end: outside
]
COUNT_IN_WINDOW = (
    "SELECT 'events' AS key, COUNT(*) AS current_value, SUM(amount) AS historical_value "
    "FROM events WHERE at >= :window_start AND at < :window_end"
)
PASSWORD = "sekret-pw"
REFUSING_URL = f"postgresql://monitor:{PASSWORD}@127.0.0.1:9/sales"


@dataclass(frozen=True)
class Source:
    backend: str
    url: str
    setup: Engine  #: an ordinary engine on the same database, for fixtures and checks
    runner: SourceRunner


def kpi(sql: str, *, kind: KpiKind = KpiKind.QUERY, source: str = "main", last_minutes: int = 60) -> Kpi:
    return make_kpi(id=1, sql_text=sql, kind=kind, source=source, last_minutes=last_minutes)


def run(runner: SourceRunner, job: Kpi, *, timeout_s: float = 10) -> list[Observation]:
    return runner.run(job, window_start=START, window_end=END, timeout_s=timeout_s)


@pytest.fixture
def source(empty_database: Database, request: pytest.FixtureRequest) -> Iterator[Source]:
    with empty_database.engine.begin() as connection:
        connection.execute(text("CREATE TABLE events (at TIMESTAMP NOT NULL, amount INTEGER NOT NULL)"))
        connection.execute(
            text("INSERT INTO events (at, amount) VALUES (:at, :amount)"),
            [{"at": at, "amount": amount} for at, amount in EVENTS],
        )
    url = make_url(empty_database.url)
    if empty_database.backend == "postgresql":
        admin: Engine = request.getfixturevalue("postgres_admin")
        with admin.connect() as connection:
            connection.execute(text(f"ALTER DATABASE {url.database} SET TimeZone TO 'Asia/Kolkata'"))
        url = url.set(password=PASSWORD)  # trust authentication ignores it; messages must not show it
    runner = SourceRunner({"Main": url.render_as_string(hide_password=False)}, pool_size=2, retry_wait_s=0)
    yield Source(empty_database.backend, empty_database.url, empty_database.engine, runner)
    runner.dispose()


def executions(engine: Engine, needle: str) -> list[str]:
    """Record every statement the engine sends that contains `needle`."""
    seen: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if needle in statement:
            seen.append(statement)

    return seen


def event_count(source: Source) -> int:
    with source.setup.connect() as connection:
        return int(connection.execute(text("SELECT COUNT(*) FROM events")).scalar_one())


def test_a_query_counts_the_rows_of_its_window_including_the_start_and_excluding_the_end(
    source: Source,
) -> None:
    plus_two = timezone(timedelta(hours=2))
    observations = source.runner.run(
        kpi(COUNT_IN_WINDOW, source="MAIN"),
        window_start=START.astimezone(plus_two),
        window_end=END.astimezone(plus_two),
        timeout_s=10,
    )
    assert observations == [Observation(key="events", current=3, source_baseline=1110)]


def test_a_query_returns_one_observation_per_key(source: Source) -> None:
    sql = (
        "SELECT CASE WHEN amount >= 100 THEN 'large' ELSE 'small' END AS key, COUNT(*) AS current_value "
        "FROM events WHERE at >= :window_start AND at < :window_end GROUP BY 1 ORDER BY 1"
    )
    assert run(source.runner, kpi(sql)) == [
        Observation(key="large", current=2),
        Observation(key="small", current=1),
    ]


def test_for_last_minutes_is_the_kpis_window_length(source: Source) -> None:
    sql = "SELECT NULL AS key, :for_last_minutes AS current_value"
    assert run(source.runner, kpi(sql, last_minutes=45)) == [Observation(key="Deposits", current=45)]


def test_a_window_without_rows_is_an_empty_result(source: Source) -> None:
    sql = (
        "SELECT 'events' AS key, amount AS current_value FROM events "
        "WHERE at >= :window_end AND at < :window_end"
    )
    assert run(source.runner, kpi(sql)) == []


HANGING = {
    "sqlite": "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT 'k', MAX(x) FROM n",
    "postgresql": "SELECT 'k' AS key, 1 AS current_value FROM pg_sleep(30)",
}


def test_a_hanging_query_is_cancelled_on_the_server_after_its_timeout(
    source: Source, request: pytest.FixtureRequest
) -> None:
    began = time.monotonic()
    with pytest.raises(SourceTimeout) as caught:
        run(source.runner, kpi(HANGING[source.backend]), timeout_s=0.5)
    assert time.monotonic() - began < 15  # the query alone sleeps 30 s
    assert (caught.value.source, caught.value.timeout_s) == ("main", 0.5)
    if source.backend == "postgresql":
        admin: Engine = request.getfixturevalue("postgres_admin")
        with admin.connect() as connection:
            still_running = connection.execute(
                text(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE state = 'active' "
                    "AND query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
        assert still_running == 0
    assert run(source.runner, kpi(COUNT_IN_WINDOW))[0].current == 3  # the pooled connection still works


WRITES = [
    "INSERT INTO events (at, amount) VALUES ('2024-05-01 10:15:00', 5)",
    "DELETE FROM events",
    "UPDATE events SET amount = 0",
    "CREATE TABLE intruder (x INTEGER)",
    "DROP TABLE events",
]
BACKEND_WRITES = {
    "sqlite": ["PRAGMA query_only=OFF", "ATTACH DATABASE 'intruder.db' AS intruder", "COMMIT"],
    "postgresql": [
        "COMMIT; CREATE TABLE intruder (x INTEGER); SELECT 'k' AS key, 1 AS current_value",
        "WITH gone AS (DELETE FROM events RETURNING amount) SELECT 'k' AS key, COUNT(*) FROM gone",
        "SET TRANSACTION READ WRITE",
    ],
}


@pytest.mark.parametrize("sql", WRITES)
def test_a_statement_that_writes_fails_and_leaves_nothing_behind(source: Source, sql: str) -> None:
    assert_read_only(source, sql)


@pytest.mark.parametrize("index", range(3))
def test_a_backend_specific_way_out_of_read_only_fails_too(source: Source, index: int) -> None:
    assert_read_only(source, BACKEND_WRITES[source.backend][index])


def assert_read_only(source: Source, sql: str) -> None:
    with pytest.raises(SourceQueryError):
        run(source.runner, kpi(sql))
    with pytest.raises(SourceQueryError):  # the same pooled connection is still read-only
        run(source.runner, kpi(WRITES[0]))
    assert event_count(source) == len(EVENTS)
    assert not inspect(source.setup).has_table("intruder")


def test_a_syntax_error_is_a_query_error_that_is_not_retried(source: Source) -> None:
    attempts = executions(source.runner.engine("main"), "SELEC ")
    with pytest.raises(SourceQueryError, match="syntax error") as caught:
        run(source.runner, kpi("SELEC 'k', 1"))
    assert len(attempts) == 1
    assert caught.value.indicator == "Deposits"
    assert PASSWORD not in str(caught.value)
    assert "@127.0.0.1" not in str(caught.value)


def test_a_missing_table_is_a_query_error(source: Source) -> None:
    with pytest.raises(SourceQueryError, match="no_such_table"):
        run(source.runner, kpi("SELECT 'k' AS key, COUNT(*) AS current_value FROM no_such_table"))


def test_an_unknown_bind_parameter_is_a_query_error(source: Source) -> None:
    with pytest.raises(SourceQueryError, match=":since"):
        run(source.runner, kpi("SELECT 'k' AS key, COUNT(*) AS current_value FROM events WHERE at > :since"))


def test_non_numeric_values_are_a_query_error(source: Source) -> None:
    with pytest.raises(SourceQueryError, match="not a number"):
        run(source.runner, kpi("SELECT 'k' AS key, 'many' AS current_value"))


def test_a_refusing_source_is_unavailable_after_the_bounded_retries() -> None:
    runner = SourceRunner({"sales": REFUSING_URL}, pool_size=1, retry_attempts=3, retry_wait_s=0)
    with pytest.raises(SourceUnavailable) as caught:
        run(runner, kpi("SELECT 1, 1", source="sales"))
    runner.dispose()
    assert caught.value.attempts == 3
    assert caught.value.source == "sales"
    assert PASSWORD not in str(caught.value)


def test_retries_stop_when_the_time_budget_is_spent() -> None:
    runner = SourceRunner({"sales": REFUSING_URL}, pool_size=1, retry_attempts=1000, retry_wait_s=0.05)
    began = time.monotonic()
    with pytest.raises(SourceUnavailable) as caught:
        run(runner, kpi("SELECT 1, 1", source="sales"), timeout_s=0.5)
    runner.dispose()
    assert time.monotonic() - began < 10  # far below the 50 s the attempts alone would take
    assert 1 < caught.value.attempts < 1000


def test_an_unknown_source_is_not_configured() -> None:
    runner = SourceRunner({"main": "sqlite:///unused.db"}, pool_size=1)
    with pytest.raises(SourceNotConfigured, match="ConnectionStrings__Sources__reporting") as caught:
        run(runner, kpi("SELECT 1, 1", source="Reporting"))
    assert caught.value.source == "reporting"


def test_naive_window_datetimes_are_refused() -> None:
    runner = SourceRunner({"main": "sqlite:///unused.db"}, pool_size=1)
    with pytest.raises(ValueError, match="window_start must be timezone-aware"):
        runner.run(
            kpi("SELECT 1, 1"),
            window_start=START.replace(tzinfo=None),
            window_end=END,
            timeout_s=1,
        )


@pytest.mark.parametrize("empty_database", ["sqlite"], indirect=True)
def test_stored_procedures_are_not_supported_on_sqlite(source: Source) -> None:
    with pytest.raises(SourceQueryError, match="stored procedures are not supported on SQLite"):
        run(source.runner, kpi("usp_MonitorDeposits", kind=KpiKind.PROCEDURE))


POSTGRES_PROCEDURES = """
CREATE SCHEMA monitoring;
CREATE SCHEMA stats;
CREATE PROCEDURE monitoring.usp_monitor_deposits(
    for_last_minutes integer, INOUT key text, INOUT current_value numeric, INOUT historical_value numeric
) LANGUAGE plpgsql AS $$
BEGIN
    key := 'TotalDeposits';
    SELECT COUNT(*) INTO current_value FROM events
    WHERE at >= TIMESTAMP '2024-05-01 11:00' - make_interval(mins => for_last_minutes)
      AND at < TIMESTAMP '2024-05-01 11:00';
    historical_value := 4;
END $$;
CREATE PROCEDURE monitoring."usp Monitor Echo"(
    for_last_minutes integer, INOUT key text, INOUT current_value numeric, INOUT historical_value numeric
) LANGUAGE plpgsql AS $$
BEGIN
    current_value := NULLIF(for_last_minutes, 0);
END $$;
CREATE FUNCTION stats.monitor_transactions(last_minutes integer)
RETURNS TABLE ("ItemName" text, "Total" bigint, "Successful" bigint) LANGUAGE sql AS $$
    SELECT 'Deposit', COUNT(*), COUNT(*) FILTER (WHERE amount >= 100) FROM events
    WHERE at >= TIMESTAMP '2024-05-01 11:00' - make_interval(mins => last_minutes)
      AND at < TIMESTAMP '2024-05-01 11:00'
    UNION ALL SELECT 'Bet', 0, 0
$$;
CREATE FUNCTION stats."MonitorBonus"(last_minutes integer)
RETURNS TABLE (itemname text, total integer, marked integer) LANGUAGE sql AS $$
    VALUES ('Welcome', 4, 1), ('Reload', 4, 3)
$$;
"""


def postgres_only(test: Callable[..., None]) -> Callable[..., None]:
    """Run `test` on the PostgreSQL source only: procedures, pg_stat_activity and real connections."""
    on_postgresql = pytest.mark.parametrize("empty_database", ["postgresql"], indirect=True)
    return pytest.mark.postgres(on_postgresql(test))  # type: ignore[no-any-return]


@pytest.fixture
def procedures(source: Source) -> Source:
    with source.setup.begin() as connection:
        connection.exec_driver_sql(POSTGRES_PROCEDURES)
    return source


@pytest.mark.parametrize(
    ("last_minutes", "expected"),
    [(60, 3), (30, 2)],
)
@postgres_only
def test_a_postgresql_procedure_with_inout_parameters_follows_the_output_parameter_contract(
    procedures: Source, last_minutes: int, expected: int
) -> None:
    job = kpi("monitoring.usp_monitor_deposits", kind=KpiKind.PROCEDURE, last_minutes=last_minutes)
    assert run(procedures.runner, job) == [
        Observation(key="TotalDeposits", current=expected, source_baseline=4)
    ]


@pytest.mark.parametrize(
    ("last_minutes", "expected"),
    [(15, [Observation(key="Deposits", current=15)]), (0, [Observation(key="Deposits", current=None)])],
)
@postgres_only
def test_a_null_key_is_the_indicator_and_a_null_current_value_is_no_data(
    procedures: Source, last_minutes: int, expected: list[Observation]
) -> None:
    job = kpi('monitoring."usp Monitor Echo"', kind=KpiKind.PROCEDURE, last_minutes=last_minutes)
    assert run(procedures.runner, job) == expected


@postgres_only
def test_a_set_returning_function_follows_the_item_result_set_contract(procedures: Source) -> None:
    job = kpi("stats.monitor_transactions", kind=KpiKind.PROCEDURE)
    assert run(procedures.runner, job) == [
        Observation(key="Deposit", current=pytest.approx(200 / 3)),
        Observation(key="Bet", current=None),  # Total 0: no data, left out of the overall rate
        Observation(key="(all)", current=pytest.approx(200 / 3)),
    ]
    marked = kpi('stats."MonitorBonus"', kind=KpiKind.PROCEDURE)
    assert run(procedures.runner, marked) == [
        Observation(key="Welcome", current=25),
        Observation(key="Reload", current=75),
        Observation(key="(all)", current=50),
    ]


@postgres_only
def test_a_procedures_contract_is_read_from_the_catalog_once(procedures: Source) -> None:
    lookups = executions(procedures.runner.engine("main"), "pg_proc")
    job = kpi("monitoring.usp_monitor_deposits", kind=KpiKind.PROCEDURE)
    for _ in range(3):
        run(procedures.runner, job)
    assert len(lookups) == 1


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("monitoring.usp_missing", "does not exist"),
        ("monitoring.usp_monitor_deposits(1); DROP TABLE events; --", "is not a procedure name"),
        ('stats."x"; DROP TABLE events; --"', "is not a procedure name"),
    ],
)
@postgres_only
def test_a_missing_or_malformed_procedure_is_a_query_error_and_runs_nothing(
    procedures: Source, name: str, problem: str
) -> None:
    drops = executions(procedures.runner.engine("main"), "DROP")
    with pytest.raises(SourceQueryError, match=problem):
        run(procedures.runner, kpi(name, kind=KpiKind.PROCEDURE))
    assert drops == []
    assert event_count(procedures) == len(EVENTS)


@postgres_only
def test_the_pool_never_opens_more_than_pool_size_connections(
    source: Source, request: pytest.FixtureRequest
) -> None:
    engine = source.runner.engine("main")
    lock = threading.Lock()
    checked_out: list[int] = [0, 0]  # now, peak

    @event.listens_for(engine, "checkout")
    def on_checkout(*_args: Any) -> None:
        with lock:
            checked_out[0] += 1
            checked_out[1] = max(checked_out)

    @event.listens_for(engine, "checkin")
    def on_checkin(*_args: Any) -> None:
        with lock:
            checked_out[0] -= 1

    outcomes: list[object] = []
    job = kpi("SELECT 'slept' AS key, 1 AS current_value FROM pg_sleep(0.3)")

    def work() -> None:
        try:
            outcomes.append(run(source.runner, job))
        except Exception as error:  # collected and asserted on below
            outcomes.append(error)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == [[Observation(key="slept", current=1)]] * 6
    assert checked_out == [0, 2]
    admin: Engine = request.getfixturevalue("postgres_admin")
    with admin.connect() as connection:
        opened = connection.execute(
            text("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = :db AND application_name = :app"),
            {"db": make_url(source.url).database, "app": application_name("main")},
        ).scalar_one()
    assert opened == 2
