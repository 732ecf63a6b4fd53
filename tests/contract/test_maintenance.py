"""Maintenance on SQLite and PostgreSQL (real VACUUM, ANALYZE, REINDEX and PRAGMAs), its reporting, bounds
and failure isolation; the SQL Server statements as the pure functions build them (no SQL Server here: its
steps run against a recording stand-in for the connection)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, bindparam, text
from sqlalchemy.dialects import mssql
from sqlalchemy.exc import SQLAlchemyError

from shared.db import maintenance_plans as maintenance
from shared.db.maintenance_plans import Done, Step, default_plan
from shared.db.tables import system_status
from shared.services.maintenance import Maintenance, MaintenanceReport
from shared.settings import Settings
from tests.conftest import Database
from tests.factories import NOW, FakeTime

TABLES = maintenance.TABLES


def settings(monkeypatch: pytest.MonkeyPatch, **values: object) -> Settings:
    for name, value in values.items():
        monkeypatch.setenv(f"Worker__ScheduledTasks__{name}", str(value))
    return Settings.load()


def run(database: Database, config: Settings, **kwargs: Any) -> MaintenanceReport:
    return Maintenance(database.engine, config, clock=lambda: NOW, **kwargs).run()


def statuses(report: MaintenanceReport) -> dict[str, str]:
    return {step.name: step.status for step in report.steps}


def detail(report: MaintenanceReport, name: str) -> str:
    return next(step.detail for step in report.steps if step.name == name)


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch) -> Settings:
    return settings(monkeypatch)


def pages(engine: Engine, index: str) -> int:
    with engine.connect() as connection:
        size = connection.scalar(text("SELECT pg_relation_size(CAST(:i AS regclass))"), {"i": index})
    return int(size or 0) // 8192


def bloat_dead_letters(engine: Engine) -> None:
    """100,000 dead letters of which 95 % are deleted again: their indexes keep the pages."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO dead_letters (queue, reason, received_at)"
                " SELECT 'kpi-executions', 'malformed', now() - make_interval(secs => g)"
                " FROM generate_series(1, 100000) AS g"
            )
        )
        connection.execute(text("DELETE FROM dead_letters WHERE id % 20 <> 0"))


@pytest.mark.postgres
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_postgres_vacuums_every_table_and_reindexes_a_bloated_index_concurrently(
    database: Database, config: Settings
) -> None:
    bloat_dead_letters(database.engine)
    before = pages(database.engine, "ix_dead_letters_received_at")

    report = run(database, config)

    assert not report.failed
    assert all(statuses(report)[f"vacuum analyze {table}"] == "ok" for table in TABLES)
    assert statuses(report)["drop invalid index leftovers"] == "ok"
    found = detail(report, "find bloated indexes")
    assert "(estimated from statistics)" in found
    assert "ix_dead_letters_received_at" in found
    assert statuses(report)["reindex ix_dead_letters_received_at"] == "ok"
    assert pages(database.engine, "ix_dead_letters_received_at") < before / 10
    with database.engine.connect() as connection:
        analyzed = connection.scalar(
            text("SELECT n_live_tup FROM pg_stat_user_tables WHERE relname = 'dead_letters'")
        )
        vacuumed = connection.execute(
            text(
                "SELECT relname FROM pg_stat_user_tables WHERE vacuum_count = 0 AND relname IN :tables"
            ).bindparams(bindparam("tables", expanding=True)),
            {"tables": list(TABLES)},
        ).all()
    assert analyzed == 5000
    assert vacuumed == []


@pytest.mark.postgres
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_postgres_measures_bloat_with_pgstattuple_when_it_is_installed(
    database: Database, config: Settings
) -> None:
    with database.engine.begin() as connection:
        if not connection.scalar(text("SELECT 1 FROM pg_available_extensions WHERE name = 'pgstattuple'")):
            pytest.skip("the server has no pgstattuple extension")
        connection.execute(text("CREATE EXTENSION pgstattuple"))
    bloat_dead_letters(database.engine)

    report = run(database, config)

    assert "(estimated, confirmed by pgstatindex)" in detail(report, "find bloated indexes")
    assert statuses(report)["reindex ix_dead_letters_received_at"] == "ok"
    assert "0 of" in detail(Maintenance(database.engine, config).run(), "find bloated indexes")


@pytest.mark.postgres
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_postgres_drops_an_invalid_index_left_by_an_interrupted_concurrent_rebuild(
    database: Database, config: Settings
) -> None:
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO dead_letters (queue, reason, received_at)"
                " VALUES ('q', 'r', now()), ('q', 'r', now())"
            )
        )
    autocommit = database.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    with autocommit as connection, pytest.raises(SQLAlchemyError, match="could not create unique index"):
        connection.execute(
            text("CREATE UNIQUE INDEX CONCURRENTLY ix_dead_letters_queue_ccnew ON dead_letters (queue)")
        )

    report = run(database, config)

    assert detail(report, "drop invalid index leftovers") == "dropped ix_dead_letters_queue_ccnew"
    with database.engine.connect() as connection:
        assert connection.scalar(text("SELECT to_regclass('ix_dead_letters_queue_ccnew')")) is None


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_sqlite_analyzes_optimizes_and_says_why_it_skips_the_incremental_vacuum(
    database: Database, config: Settings
) -> None:
    report = run(database, config)

    assert statuses(report) == {"analyze": "ok", "pragma optimize": "ok", "incremental vacuum": "skipped"}
    assert detail(report, "incremental vacuum").startswith("auto_vacuum is NONE, not INCREMENTAL: ")
    assert "full VACUUM (not run" in detail(report, "incremental vacuum")
    with database.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM sqlite_stat1").scalar_one() > 0


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_sqlite_incremental_vacuum_returns_free_pages_when_auto_vacuum_is_incremental(
    database: Database, config: Settings
) -> None:
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        raw.execute("PRAGMA auto_vacuum = INCREMENTAL")
        raw.execute("VACUUM")  # switching an existing file's mode takes one full VACUUM
        raw.execute("CREATE TABLE scratch (body TEXT)")
        raw.executemany("INSERT INTO scratch VALUES (?)", [("x" * 2000,) for _ in range(500)])
        raw.execute("DROP TABLE scratch")

    report = run(database, config)

    assert statuses(report)["incremental vacuum"] == "ok"
    assert detail(report, "incremental vacuum").startswith("freed ")
    assert int(detail(report, "incremental vacuum").split()[1]) >= 250
    with database.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA freelist_count").scalar_one() == 0


def failing_first(engine: Engine) -> list[Step]:
    def broken(connection: Connection) -> Done:
        connection.execute(text("SELECT * FROM no_such_table"))
        return Done("unreachable")

    return [Step("broken", broken), *default_plan(engine)]


def test_a_failing_step_is_reported_and_every_other_step_still_runs(
    database: Database, config: Settings
) -> None:
    report = run(database, config, plan=failing_first)

    assert report.failed
    first = report.steps[0]
    assert (first.name, first.status) == ("broken", "failed")
    assert "no_such_table" in first.detail
    assert [step.name for step in report.steps[1:]] == [step.name for step in default_plan(database.engine)]
    assert all(step.status in {"ok", "skipped"} for step in report.steps[1:])
    assert report.summary()["failed"] is True
    with database.engine.connect() as connection:
        row = connection.execute(
            system_status.select().where(system_status.c.component == "maintenance")
        ).one()
    assert (row.status, row.heartbeat_at) == ("failed", NOW)
    assert json.loads(row.details)["steps"][0]["status"] == "failed"


def test_once_the_time_budget_is_spent_no_further_step_starts(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeTime()

    def plan(engine: Engine) -> list[Step]:
        return [Step("slow", lambda _c: advance(clock, 61)), *default_plan(engine)]

    report = run(database, settings(monkeypatch, MaintenanceTimeBudgetSeconds=60), monotonic=clock, plan=plan)

    assert report.steps[0].status == "ok"
    assert len(report.steps) == 1 + len(default_plan(database.engine))
    for step in report.steps[1:]:
        assert (step.status, step.detail) == ("skipped", "not started: the time budget of 60 s was spent")
    assert not report.failed


def advance(clock: FakeTime, seconds: float) -> Done:
    clock.now += seconds
    return Done(f"took {seconds} s")


LONG_QUERIES = {
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n",
    "postgresql": "SELECT pg_sleep(30)",
}


def test_a_step_is_cancelled_when_the_time_left_in_the_budget_runs_out(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeTime()
    seen: list[str] = []

    def endless(connection: Connection) -> Done:
        if database.backend == "postgresql":
            seen.extend(connection.exec_driver_sql("SHOW statement_timeout").scalars())
            seen.extend(connection.exec_driver_sql("SHOW lock_timeout").scalars())
        connection.exec_driver_sql(LONG_QUERIES[database.backend])
        return Done("unreachable")

    def plan(_engine: Engine) -> list[Step]:
        return [Step("slow", lambda _c: advance(clock, 59.8)), Step("endless", endless)]

    config = settings(monkeypatch, MaintenanceTimeBudgetSeconds=60)
    report = run(database, config, monotonic=clock, plan=plan)

    assert statuses(report) == {"slow": "ok", "endless": "failed"}
    assert ("interrupted" if database.backend == "sqlite" else "QueryCanceled") in detail(report, "endless")
    if database.backend == "postgresql":
        assert seen == ["1s", "1s"]  # never less than a second
        with database.engine.connect() as connection:  # the pooled connection lost the step's timeouts
            assert connection.exec_driver_sql("SHOW statement_timeout").scalar_one() == "0"
            assert connection.exec_driver_sql("SHOW lock_timeout").scalar_one() == "0"


def test_disabled_maintenance_runs_nothing(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    report = run(database, settings(monkeypatch, Enabled="false"), plan=failing_first)

    assert report.disabled
    assert report.steps == []
    assert report.summary() == {"disabled": True, "failed": False, "duration_s": 0.0, "steps": []}


@pytest.mark.parametrize(
    ("pages", "needed", "verdict"),
    [(1000, 500, True), (1000, 501, False), (256, 128, True), (200, 100, False), (100, 1, False)],
)
def test_an_index_is_bloated_when_half_of_it_and_at_least_a_mebibyte_is_waste(
    pages: int, needed: int, verdict: bool
) -> None:
    assert maintenance.bloated(pages, needed) is verdict


def test_the_pages_an_index_needs_are_estimated_from_entries_and_key_width_or_measured() -> None:
    # 5,000 eight-byte keys: 20 bytes an entry (16 aligned, a 4-byte line pointer), 7,336 a page at 90 %
    assert maintenance.estimated_pages(5000, 8) == 14 + 1
    assert maintenance.estimated_pages(0, 8) == 1
    assert maintenance.estimated_pages(5000, 20, fillfactor=100) == math.ceil(5000 * 36 / 8152) + 1
    # 490 leaves at 2.8 % density hold what 16 leaves at 90 % hold; plus 3 inner pages and the meta page
    assert maintenance.measured_pages(490, 3, 2.8, 90) == 16 + 3 + 1


@pytest.mark.parametrize(
    ("fragmentation", "action"),
    [
        (0.0, None),
        (4.99, None),
        (5.0, "reorganize"),
        (30.0, "reorganize"),
        (30.01, "rebuild"),
        (99.0, "rebuild"),
    ],
)
def test_sql_server_reorganizes_from_5_to_30_percent_and_rebuilds_above(
    fragmentation: float, action: str | None
) -> None:
    assert maintenance.index_action(fragmentation) == action


@pytest.mark.parametrize(("edition", "online"), [(2, False), (3, True), (4, False), (5, True), (8, True)])
def test_sql_server_rebuilds_online_only_where_the_edition_allows_it(edition: int, online: bool) -> None:
    assert maintenance.online_rebuild_allowed(edition) is online


def test_sql_server_statements_are_bracketed_and_rebuild_online_when_allowed() -> None:
    build = maintenance.index_statement
    assert build("alerts", "ix_alerts_resolved_at", "rebuild", online=True) == (
        "ALTER INDEX [ix_alerts_resolved_at] ON [alerts] REBUILD WITH (ONLINE = ON)"
    )
    assert build("alerts", "ix_alerts_resolved_at", "rebuild", online=False) == (
        "ALTER INDEX [ix_alerts_resolved_at] ON [alerts] REBUILD"
    )
    assert build("alerts", "ix]x", "reorganize", online=True) == "ALTER INDEX [ix]]x] ON [alerts] REORGANIZE"
    assert maintenance.statistics_statement("kpis") == "UPDATE STATISTICS [kpis]"


@dataclass
class RecordingConnection:
    """Stands in for a SQL Server connection (none here): answers the edition and fragmentation queries
    with fixed rows and records every statement it is asked to run."""

    edition: int
    fragments: list[tuple[str, str, float]]
    sent: list[str] = field(default_factory=list)

    def scalar(self, statement: Any) -> int:
        assert statement is maintenance.EDITION_SQL
        return self.edition

    def execute(self, statement: Any, params: dict[str, Any]) -> list[Any]:
        assert statement is maintenance.FRAGMENTATION_SQL
        assert params == {"tables": list(TABLES), "min_pages": maintenance.MSSQL_MIN_PAGES}
        return [_Fragment(*fragment) for fragment in self.fragments]

    def exec_driver_sql(self, statement: str) -> None:
        self.sent.append(statement)


@dataclass
class _Fragment:
    table_name: str
    index_name: str
    fragmentation: float


def run_steps(steps: list[Step], connection: RecordingConnection) -> list[str]:
    """Run the steps and the steps they find, depth first, as the service does; their names."""
    names: list[str] = []
    pending = list(steps)
    while pending:
        step = pending.pop(0)
        names.append(step.name)
        pending[:0] = step.action(connection).then  # type: ignore[arg-type]
    return names


def test_sql_server_plan_defragments_then_updates_statistics_of_every_table() -> None:
    engine = _mssql_engine()
    connection = RecordingConnection(
        edition=5,
        fragments=[
            ("historical_data", "ix_historical_data_window_end", 42.0),
            ("alerts", "ix_alerts_resolved_at", 12.5),
            ("kpis", "pk_kpis", 1.0),
        ],
    )

    names = run_steps(default_plan(engine), connection)

    assert names[:3] == [
        "find fragmented indexes",
        "rebuild ix_historical_data_window_end",
        "reorganize ix_alerts_resolved_at",
    ]
    assert names[3:] == [f"update statistics {table}" for table in TABLES]
    assert connection.sent == [
        "ALTER INDEX [ix_historical_data_window_end] ON [historical_data] REBUILD WITH (ONLINE = ON)",
        "ALTER INDEX [ix_alerts_resolved_at] ON [alerts] REORGANIZE",
        *(f"UPDATE STATISTICS [{table}]" for table in TABLES),
    ]


def test_sql_server_queries_compile_for_the_mssql_dialect() -> None:
    dialect = mssql.dialect()
    bound = maintenance.FRAGMENTATION_SQL.bindparams(tables=list(TABLES), min_pages=1000)
    fragmentation = str(bound.compile(dialect=dialect, compile_kwargs={"render_postcompile": True}))
    assert "sys.dm_db_index_physical_stats(DB_ID(), NULL, NULL, NULL, 'LIMITED')" in fragmentation
    assert "t.name IN (:tables_1, :tables_2" in fragmentation
    assert str(maintenance.EDITION_SQL.compile(dialect=dialect)) == (
        "SELECT CAST(SERVERPROPERTY('EngineEdition') AS int)"
    )


def _mssql_engine() -> Engine:
    from sqlalchemy import create_mock_engine

    mock: Callable[..., None] = lambda *_args, **_kwargs: None  # noqa: E731
    return create_mock_engine("mssql+pyodbc://", mock)  # type: ignore[return-value]
